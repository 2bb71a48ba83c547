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
        // `/live/...` paths that name no view are plain requests: the worker answers them 404.
        return .worker(LiveRoute(path: path)?.view ?? .http)
    }
}
