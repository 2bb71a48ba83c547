import Testing

@testable import LivefeedProtocol

/// The one table of `/live/...` paths, read by the supervisor (caps) and the worker (serving).
struct LiveRouteTests {
    @Test(arguments: [
        ("/live/metrics", LiveRoute.metrics),
        ("/live/dashboard", .dashboard),
        ("/live/channels", .channels),
        ("/live/channels/7", .channel(7)),
        ("/live/users", .users),
        ("/live/users/9223372036854775807", .user(Int64.max)),
        ("/live/echo", .echo),
        ("//live//channels/3/", .channel(3)),
    ])
    func pathsNameTheirView(_ path: String, _ route: LiveRoute) {
        #expect(LiveRoute(path: path) == route)
        #expect(LiveRoute(path: route.path) == route)
    }

    @Test(arguments: [
        "/", "/live", "/live/", "/live/nothing", "/live/channels/0", "/live/channels/-1", "/live/channels/+1",
        "/live/channels/abc", "/live/channels/1/2", "/live/users/9223372036854775808", "/live/metrics/1",
        "/api/live/metrics", "/channels/1",
    ])
    func otherPathsNameNoView(_ path: String) {
        #expect(LiveRoute(path: path) == nil)
    }

    @Test func everyLiveConnectionViewHasARoute() {
        let routed = Set([LiveRoute.metrics, .dashboard, .channels, .channel(1), .users, .user(1), .echo].map(\.view))
        #expect(routed == Set(ConnectionView.allCases.filter(\.isLive)))
    }
}
