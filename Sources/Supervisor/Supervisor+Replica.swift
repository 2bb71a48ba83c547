import LivefeedProtocol

/// Scale-out (docs/scale-out.md): what a follower says about its distance from the primary, from its workers'
/// gauges (each reads the replica's heartbeat and newest message once a second).
extension Supervisor {
    /// The freshest lag a serving worker of the current generation reported; nil on a primary or standalone host,
    /// or before a follower's replica holds a heartbeat.
    var replicaLagMilliseconds: Int64? {
        guard config.role == .follower else { return nil }
        return workers.current.compactMap { $0.state == .running ? $0.gauges?.replicaLagMilliseconds : nil }.min()
    }

    /// The newest message id any current worker's database holds.
    var newestMessageID: Int64 { workers.current.compactMap { $0.gauges?.newestMessageID }.max() ?? 0 }

    /// "follower, 120 ms behind the primary" (to 100 ms, so STATUS= does not change with every sample), "primary";
    /// nil when standalone.
    var roleText: String? {
        switch config.role {
        case .standalone: return nil
        case .primary: return "primary"
        case .follower:
            guard let lag = replicaLagMilliseconds else { return "follower, lag unknown (no heartbeat in the replica yet)" }
            return "follower, \(lag / 100 * 100) ms behind the primary"
        }
    }
}
