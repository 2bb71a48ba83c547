import Testing

@testable import Worker

/// The worker's one router: every path and method decided once, into a typed route.
struct RouteTests {
    @Test(arguments: [
        ("GET", "/", Route.page(.dashboard)),
        ("HEAD", "/channels", .page(.channels)),
        ("GET", "/channels/4", .page(.channel(4))),
        ("GET", "/users/5", .page(.user(5))),
        ("GET", "/fragments/dashboard", .fragment(.dashboard)),
        ("GET", "/fragments/channels/4/messages", .fragment(.channelMessages(4))),
        ("GET", "/fragments/channels/4/history", .fragment(.channelHistory(4))),
        ("GET", "/fragments/users/5/messages", .fragment(.userMessages(5))),
        ("GET", "/api/metrics", .api(.metrics)),
        ("GET", "/api/channels/4/messages", .api(.channelMessages(4))),
        ("POST", "/api/messages", .ingest),
        ("GET", "/static/livefeed.js", .asset("livefeed.js")),
        ("GET", "/live/dashboard", .live(.dashboard)),
        ("POST", "/live/channels/4", .live(.channel(4))),
    ])
    func requestsFindTheirRoute(_ method: String, _ path: String, _ route: Route) {
        #expect(Route(method: method, path: path) == route)
    }

    @Test func refusalsSayWhyInTheFamilyOfTheirPath() {
        #expect(Route(method: "GET", path: "/channels/x") == .notFound(.html, message: "no such channel"))
        #expect(Route(method: "GET", path: "/api/users/0") == .notFound(.json, message: "no such user"))
        #expect(Route(method: "GET", path: "/api/nope") == .notFound(.json, message: "no API resource at /api/nope"))
        #expect(Route(method: "GET", path: "/live/channels/x") == .unknownLive(code: "not_found", message: "no such channel"))
        #expect(Route(method: "GET", path: "/live/x") == .unknownLive(code: "unknown_view", message: "no live view at /live/x"))
        #expect(
            Route(method: "POST", path: "/api/metrics")
                == .methodNotAllowed(.json, allow: "GET, HEAD", message: "POST is only accepted on /api/messages"))
        #expect(
            Route(method: "DELETE", path: "/api/messages")
                == .methodNotAllowed(.json, allow: "POST", message: "DELETE is not supported here"))
        for method in ["GET", "HEAD"] {
            #expect(
                Route(method: method, path: "/api/messages")
                    == .methodNotAllowed(.json, allow: "POST", message: "\(method) is not supported here"))
        }
        #expect(
            Route(method: "PUT", path: "/") == .methodNotAllowed(.html, allow: "GET, HEAD", message: "PUT is not supported here"))
    }
}
