import LivefeedProtocol

/// Counters the supervisor aggregates from its own decisions and its workers' records. Gauges are not kept
/// here: they are read from the live state (`ConnectionCaps`, the worker table) when asked.
struct SupervisorMetrics {
    /// A (view, reason) label pair. `view` is "unknown" for refusals made before the head was read.
    struct ViewReason: Hashable, Comparable {
        var view: String
        var reason: String
        static func < (a: Self, b: Self) -> Bool { (a.view, a.reason) < (b.view, b.reason) }
    }

    /// Reasons come from workers too; past this many distinct ones, new ones count as "other", so a confused
    /// worker cannot grow the label set without bound.
    static let maxReasons = 64

    var accepted: [ConnectionView: Int] = [:]
    var liveOpened: [ConnectionView: Int] = [:]
    var refused: [ViewReason: Int] = [:]
    /// Connections closed at the door without an answer, by reason (the client hung up first, …).
    var abandoned: [String: Int] = [:]
    var closed: [ViewReason: Int] = [:]
    var framesDropped: [ConnectionView: Int64] = [:]
    /// Per worker index, across generations.
    var workerRestarts: [Int: Int] = [:]
    var recordsDropped: [Int: Int64] = [:]
    var protocolViolations: [Int: Int] = [:]
    var workerTimeouts: [Int: Int] = [:]
    var drainKills = 0
    var acceptPauses = 0
    /// Time the supervisor's loop stalled beyond its usual look at the workers (credited to them, not counted as
    /// their silence).
    var supervisorStallMilliseconds: UInt64 = 0
    var reloads = 0
    var reloadFailures = 0
    /// Live connections moved to a new worker on a reload, and those that could not move (closed with 1012).
    var moved = 0
    var moveFailures = 0
    /// Messages that carried handoffs to workers (each up to `Supervisor.handoffsPerMessage` of them).
    var handoffMessages = 0
    var accountingErrors = 0

    /// Returns the reason counted: `reason`, or "other" once `maxReasons` distinct reasons exist.
    @discardableResult
    mutating func countRefused(view: ConnectionView?, reason: String) -> String {
        var key = ViewReason(view: view?.rawValue ?? "unknown", reason: reason)
        // Workers report refusals too, so the reasons come from another process: their number stays bounded.
        if refused[key] == nil && Set(refused.keys.map(\.reason)).count >= Self.maxReasons { key.reason = "other" }
        refused[key, default: 0] += 1
        return key.reason
    }

    mutating func countClosed(view: ConnectionView, reason: String) {
        var key = ViewReason(view: view.rawValue, reason: reason)
        if closed[key] == nil && Set(closed.keys.map(\.reason)).count >= Self.maxReasons { key.reason = "other" }
        closed[key, default: 0] += 1
    }

    func refusedTotal(reason: String) -> Int { refused.filter { $0.key.reason == reason }.values.reduce(0, +) }
}
