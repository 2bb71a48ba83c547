import CSystemd
import Glibc

/// The service manager's notification socket (sd_notify(3)): readiness, reloads, stopping, a one-line status,
/// timeout extensions and watchdog keep-alives. Every send is a no-op without `NOTIFY_SOCKET`. The watchdog
/// period comes from `WATCHDOG_USEC`/`WATCHDOG_PID` (sd_watchdog_enabled(3)); those two are removed from the
/// environment at once, and `NOTIFY_SOCKET` is kept out of the workers' (`inheritedVariables`), so only this
/// process ever speaks for the service.
final class Notifier {
    /// One assignment of a notification datagram.
    enum Field: Equatable {
        case ready
        /// RELOADING=1 with MONOTONIC_USEC=, which Type=notify-reload needs in the same datagram to tell this
        /// reload from an earlier one.
        case reloading(monotonicMicroseconds: UInt64)
        case stopping
        case status(String)
        case extendTimeout(microseconds: UInt64)
        case watchdog

        var text: String {
            switch self {
            case .ready: "READY=1"
            case .reloading(let usec): "RELOADING=1\nMONOTONIC_USEC=\(usec)"
            case .stopping: "STOPPING=1"
            // One line: a newline would end the assignment and start a bogus one.
            case .status(let line): "STATUS=" + String(line.map { $0.isNewline ? " " : $0 })
            case .extendTimeout(let usec): "EXTEND_TIMEOUT_USEC=\(usec)"
            case .watchdog: "WATCHDOG=1"
            }
        }
    }

    /// Variables meant for this process alone; workers are started without them.
    static let inheritedVariables: Set<String> = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// Whether a service manager listens (`NOTIFY_SOCKET` is set).
    let isEnabled: Bool
    /// How often to send WATCHDOG=1: half of `WATCHDOG_USEC`; nil when no watchdog is asked for (or it is meant
    /// for another pid).
    let watchdogPeriodMilliseconds: UInt64?
    /// The last STATUS= sent, so an unchanged line is not sent again.
    private(set) var lastStatus: String?

    init() {
        isEnabled = getenv("NOTIFY_SOCKET") != nil
        var usec: UInt64 = 0
        if sd_watchdog_enabled(1, &usec) > 0 && usec > 0 {
            watchdogPeriodMilliseconds = max(1, usec / 2000)
        } else {
            watchdogPeriodMilliseconds = nil
        }
    }

    static func message(_ fields: [Field]) -> String { fields.map(\.text).joined(separator: "\n") }

    /// Sends `fields` in one datagram.
    func send(_ fields: [Field]) {
        guard isEnabled, !fields.isEmpty else { return }
        for case .status(let line) in fields { lastStatus = line }
        _ = sd_notify(0, Self.message(fields))
    }

    /// Sends `fields`, with STATUS= only if `status` differs from the last one sent.
    func update(status: String, with fields: [Field] = []) {
        send(status == lastStatus ? fields : [.status(status)] + fields)
    }
}
