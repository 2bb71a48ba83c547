/// A worker's periodic snapshot for the supervisor's gauges: connections it holds per view (the view the
/// supervisor handed them under), bytes waiting in its clients' outgoing queues, and the state of its own record
/// queue: records waiting now, the most that ever waited (how close it came to dropping), and how many it had to
/// drop. The last two count since the worker started, so a lost snapshot loses nothing.
package struct WorkerGauges: Equatable, Sendable {
    package var connections: [ConnectionView: Int64]
    package var queuedBytes: Int64
    package var recordsQueued: Int64
    package var recordsQueuedPeak: Int64
    package var recordsDropped: Int64
    /// A follower's distance from its primary, in milliseconds: now less the later of the primary's heartbeat
    /// (`meta.heartbeat`) and newest message in the replica; nil where the worker does not follow (or has seen no
    /// heartbeat).
    package var replicaLagMilliseconds: Int64?
    /// The newest message id this worker's database holds.
    package var newestMessageID: Int64 = 0

    package init(
        connections: [ConnectionView: Int64] = [:], queuedBytes: Int64 = 0, recordsQueued: Int64 = 0,
        recordsQueuedPeak: Int64 = 0, recordsDropped: Int64 = 0
    ) {
        self.connections = connections
        self.queuedBytes = queuedBytes
        self.recordsQueued = recordsQueued
        self.recordsQueuedPeak = recordsQueuedPeak
        self.recordsDropped = recordsDropped
    }

    /// The largest count a worker can honestly report: far beyond any real figure (2^40 bytes is a terabyte), far
    /// below where the supervisor's sums could overflow.
    package static let plausibleMaximum: Int64 = 1 << 40

    /// Whether every figure is one a worker could report: none negative or beyond `plausibleMaximum`. The
    /// supervisor kills a worker that sends anything else, rather than add it up.
    package var isPlausible: Bool {
        let range = 0...Self.plausibleMaximum
        return connections.values.allSatisfy { range.contains($0) } && range.contains(queuedBytes)
            && range.contains(recordsQueued) && range.contains(recordsQueuedPeak) && range.contains(recordsDropped)
            && replicaLagMilliseconds.map { range.contains($0) } != false && range.contains(newestMessageID)
    }

    /// Record field name for the connections of `view`.
    static func connectionsKey(_ view: ConnectionView) -> String { "conn_\(view.rawValue)" }
}
