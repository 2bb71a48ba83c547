import LivefeedProtocol

/// Every request a worker serves, decided once from the method and path: the one router. Handlers switch over
/// the typed cases; nothing else splits paths.
enum Route: Equatable {
    enum Page: Equatable {
        case dashboard, channels, channel(Int64), users, user(Int64)
    }

    /// `/fragments/...`: what pages poll when live is unavailable.
    enum Fragment: Equatable {
        case metrics, dashboard, channels, users, user(Int64), userMessages(Int64)
        case channelHistory(Int64), channelMessages(Int64)
    }

    enum API: Equatable {
        case metrics, channels, channel(Int64), users, user(Int64), channelMessages(Int64)
    }

    /// How a refusal is written: JSON for the API and live paths, an HTML page for the rest.
    enum Family: Equatable {
        case json, html
    }

    case page(Page)
    case fragment(Fragment)
    case api(API)
    /// A WebSocket upgrade to a live view (refusals are logged and close the connection).
    case live(LiveRoute)
    /// A `/live/...` path that names no live view.
    case unknownLive(code: String, message: String)
    case asset(String)
    /// `POST /api/messages`.
    case ingest
    case notFound(Family, message: String)
    case methodNotAllowed(Family, allow: String, message: String)

    init(method: String, path: String) {
        // Live upgrades first, from the path's bytes: they are the connections that arrive in storms.
        if let live = LiveRoute(path: path) {
            self = .live(live)
            return
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let family: Family = segments.first == "api" || segments.first == "live" ? .json : .html
        if segments.first == "live" {
            if segments.count == 3 && segments[1] == "channels" {
                self = .unknownLive(code: "not_found", message: "no such channel")
            } else if segments.count == 3 && segments[1] == "users" {
                self = .unknownLive(code: "not_found", message: "no such user")
            } else {
                self = .unknownLive(code: "unknown_view", message: "no live view at \(path)")
            }
            return
        }
        let isIngest = segments.count == 2 && segments[0] == "api" && segments[1] == "messages"
        if method == "POST" {
            self =
                isIngest
                ? .ingest
                : .methodNotAllowed(family, allow: "GET, HEAD", message: "POST is only accepted on /api/messages")
            return
        }
        // /api/messages exists for POST only: any other method is 405 with that Allow, GET and HEAD included (they
        // were 404, as if the resource did not exist).
        guard (method == "GET" || method == "HEAD") && !isIngest else {
            self = .methodNotAllowed(
                family, allow: isIngest ? "POST" : "GET, HEAD", message: "\(method) is not supported here")
            return
        }
        let rest = segments.dropFirst().map(String.init)
        switch segments.first {
        case "static":
            self = rest.count == 1 ? .asset(rest[0]) : .asset("")
        case "api":
            self = Self.api(rest, path: path)
        case "fragments":
            self = Self.fragment(rest, path: path)
        default:
            self = Self.page(segments.map(String.init), path: path)
        }
    }

    private static func page(_ s: [String], path: String) -> Route {
        switch (s.count, s.first ?? "") {
        case (0, _): return .page(.dashboard)
        case (1, "channels"): return .page(.channels)
        case (1, "users"): return .page(.users)
        case (2, "channels"): return PathID.parse(s[1]).map { .page(.channel($0)) } ?? noSuch(.html, .channel)
        case (2, "users"): return PathID.parse(s[1]).map { .page(.user($0)) } ?? noSuch(.html, .user)
        default: return .notFound(.html, message: "no page at \(path)")
        }
    }

    private static func fragment(_ s: [String], path: String) -> Route {
        switch (s.count, s.first ?? "", s.last ?? "") {
        case (1, "metrics", _): return .fragment(.metrics)
        case (1, "dashboard", _): return .fragment(.dashboard)
        case (1, "channels", _): return .fragment(.channels)
        case (1, "users", _): return .fragment(.users)
        case (2, "users", _): return PathID.parse(s[1]).map { .fragment(.user($0)) } ?? noSuch(.html, .user)
        case (3, "users", "messages"):
            return PathID.parse(s[1]).map { .fragment(.userMessages($0)) } ?? noSuch(.html, .user)
        case (3, "channels", "history"):
            return PathID.parse(s[1]).map { .fragment(.channelHistory($0)) } ?? noSuch(.html, .channel)
        case (3, "channels", "messages"):
            return PathID.parse(s[1]).map { .fragment(.channelMessages($0)) } ?? noSuch(.html, .channel)
        default: return .notFound(.html, message: "no fragment at \(path)")
        }
    }

    private static func api(_ s: [String], path: String) -> Route {
        switch (s.count, s.first ?? "", s.last ?? "") {
        case (1, "metrics", _): return .api(.metrics)
        case (1, "channels", _): return .api(.channels)
        case (1, "users", _): return .api(.users)
        case (2, "channels", _): return PathID.parse(s[1]).map { .api(.channel($0)) } ?? noSuch(.json, .channel)
        case (2, "users", _): return PathID.parse(s[1]).map { .api(.user($0)) } ?? noSuch(.json, .user)
        case (3, "channels", "messages"):
            return PathID.parse(s[1]).map { .api(.channelMessages($0)) } ?? noSuch(.json, .channel)
        default: return .notFound(.json, message: "no API resource at \(path)")
        }
    }

    private enum Thing { case channel, user }

    private static func noSuch(_ family: Family, _ thing: Thing) -> Route {
        .notFound(family, message: thing == .channel ? "no such channel" : "no such user")
    }
}
