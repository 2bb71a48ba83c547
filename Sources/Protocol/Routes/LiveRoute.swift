/// The view a connection serves: the classification the supervisor makes from the request head, and the
/// `view` label in metrics, logs and caps. Wire spellings are the raw values.
package enum ConnectionView: String, CaseIterable, Sendable {
    case http
    case metrics
    case dashboard
    case channels
    case channel
    case users
    case user
    case echo

    /// Live views are WebSocket streams that count against a per-view cap.
    package var isLive: Bool { self != .http }
}

/// The live views, by the path that opens them. This is the one table of `/live/...` paths: the supervisor reads
/// it to count a connection against its view's cap before handing it over, the worker to serve it, so the two
/// cannot disagree. Adding a live view adds a case here (and its `ConnectionView`), a feed in the worker, and the
/// page that shows it.
package enum LiveRoute: Hashable, Sendable {
    case metrics
    case dashboard
    case channels
    case channel(Int64)
    case users
    case user(Int64)
    /// Echoes every message back; only served with `--enable-echo` (conformance testing).
    case echo

    /// The route a request path (without its query) names, or nil when it names no live view.
    package init?(path: some StringProtocol) {
        var segments = path.split(separator: "/", omittingEmptySubsequences: true)[...]
        guard segments.popFirst() == "live", let name = segments.popFirst() else { return nil }
        switch (name, segments.count) {
        case ("metrics", 0): self = .metrics
        case ("dashboard", 0): self = .dashboard
        case ("channels", 0): self = .channels
        case ("users", 0): self = .users
        case ("echo", 0): self = .echo
        case ("channels", 1):
            guard let id = PathID.parse(segments[segments.startIndex]) else { return nil }
            self = .channel(id)
        case ("users", 1):
            guard let id = PathID.parse(segments[segments.startIndex]) else { return nil }
            self = .user(id)
        default: return nil
        }
    }

    package var view: ConnectionView {
        switch self {
        case .metrics: .metrics
        case .dashboard: .dashboard
        case .channels: .channels
        case .channel: .channel
        case .users: .users
        case .user: .user
        case .echo: .echo
        }
    }

    /// The canonical path of this view.
    package var path: String {
        switch self {
        case .metrics: "/live/metrics"
        case .dashboard: "/live/dashboard"
        case .channels: "/live/channels"
        case .channel(let id): "/live/channels/\(id)"
        case .users: "/live/users"
        case .user(let id): "/live/users/\(id)"
        case .echo: "/live/echo"
        }
    }
}

/// An id in a path or query: a positive decimal integer, no sign, no spaces.
package enum PathID {
    package static func parse(_ text: some StringProtocol) -> Int64? {
        guard text.first != "+", let v = Int64(text), v > 0 else { return nil }
        return v
    }
}
