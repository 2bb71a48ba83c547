/// Messages between supervisor and worker. Commands (supervisor → worker) are verbs; records
/// (worker → supervisor) are past-tense facts. The descriptor of a handoff travels beside its message as
/// SCM_RIGHTS ancillary data, never inside it.
package enum Record: Equatable, Sendable {
    /// Supervisor → worker: serve this connection (the descriptor comes with the message).
    case handoff(connectionID: UInt64, view: ConnectionView, client: String)
    /// Supervisor → worker: take no new work, close live clients with 1012 spread over `spreadMilliseconds`
    /// (each told to retry after about `retryAfterMilliseconds`), then exit once drained. With `handover`, live
    /// connections first move back to the supervisor (`liveMoved`) as they reach a point where they can; the
    /// 1012 closes start after `Record.handoverGraceMilliseconds` for those that could not.
    case drain(spreadMilliseconds: Int64, retryAfterMilliseconds: Int64, handover: Bool = false)
    /// Supervisor → worker: continue serving this live connection where another worker left it (the descriptor
    /// comes with the message).
    case adoptLive(LiveHandover)
    /// Worker → supervisor: the worker serves; its pid.
    case workerReady(pid: Int64)
    /// Worker → supervisor: a handed-off connection began (live after its upgrade).
    case connectionOpened(connectionID: UInt64, view: ConnectionView)
    /// Worker → supervisor: a connection ended; its slot is free. `fields` carries the accounting.
    case connectionClosed(connectionID: UInt64, view: ConnectionView, fields: [String: RecordValue])
    /// Worker → supervisor: a structured log line.
    case log(level: LogLevel, event: String, fields: [String: RecordValue])
    /// Worker → supervisor: the periodic snapshot, sent about once a second; it doubles as the heartbeat.
    case workerGauges(WorkerGauges)
    /// Worker → supervisor, while draining with handover: this live connection is no longer served here; give it
    /// to another worker (the descriptor comes with the message, the only record that carries one).
    case liveMoved(LiveHandover)

    /// How long a worker draining with handover tries to move its live connections before closing the rest with
    /// 1012 (spread as usual).
    package static let handoverGraceMilliseconds: Int64 = 3000

    package enum Kind: UInt8, Sendable {
        case handoff = 1
        case drain = 2
        case adoptLive = 3
        case workerReady = 16
        case connectionOpened = 17
        case connectionClosed = 18
        case log = 19
        case workerGauges = 20
        case liveMoved = 21
    }

    package var kind: Kind {
        switch self {
        case .handoff: .handoff
        case .drain: .drain
        case .workerReady: .workerReady
        case .connectionOpened: .connectionOpened
        case .connectionClosed: .connectionClosed
        case .log: .log
        case .workerGauges: .workerGauges
        case .adoptLive: .adoptLive
        case .liveMoved: .liveMoved
        }
    }
}

/// Log levels, spelled as in the JSON log lines.
package enum LogLevel: String, Sendable, Comparable {
    case debug, info, warning, error

    private var rank: Int {
        switch self {
        case .debug: 0
        case .info: 1
        case .warning: 2
        case .error: 3
        }
    }
    package static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }

    /// syslog priority, for journald's PRIORITY=.
    package var syslogPriority: Int {
        switch self {
        case .debug: 7
        case .info: 6
        case .warning: 4
        case .error: 3
        }
    }
}
