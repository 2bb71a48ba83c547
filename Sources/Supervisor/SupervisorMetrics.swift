import LivefeedProtocol

/// Counters the supervisor aggregates from its own decisions and its workers' records.
struct SupervisorMetrics {
    var accepted: [ConnectionView: Int] = [:]
    var liveOpened: [ConnectionView: Int] = [:]
    var refused: [String: Int] = [:]
    var closed: [String: Int] = [:]
    var framesDropped: Int64 = 0
    var workerRestarts = 0
}
