import LivefeedProtocol

/// What the supervisor decides from a request head alone: which view a connection serves, or whether the
/// supervisor answers it itself.
enum ViewClassifier {
    enum Route: Equatable {
        case worker(ConnectionView)
        case supervisor(SupervisorEndpoint)
    }

    enum SupervisorEndpoint: String {
        case metrics = "/metrics"
        case healthz = "/healthz"
        case status = "/status"
    }

    static func classify(path: String) -> Route {
        if let endpoint = SupervisorEndpoint(rawValue: path) { return .supervisor(endpoint) }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        guard segments.first == "live" else { return .worker(.http) }
        switch (segments.count, segments.count > 1 ? segments[1] : "") {
        case (2, "metrics"): return .worker(.metrics)
        case (2, "channels"): return .worker(.channels)
        case (3, "channels"): return .worker(.channel)
        case (2, "users"): return .worker(.users)
        case (3, "users"): return .worker(.user)
        case (2, "echo"): return .worker(.echo)
        default: return .worker(.http)
        }
    }
}
