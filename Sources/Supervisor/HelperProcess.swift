import Glibc
import LivefeedProtocol

/// A process the supervisor runs beside its workers that serves no connection: the WAL checkpointer (unless this
/// host is a follower, whose replica only Litestream writes) and, with `--demo`, the demo writer. Each is
/// `livefeed-worker <mode> --db PATH …` with a socket on fd 3, and stops when the supervisor closes its end (or
/// dies). One that exits while the supervisor serves is logged and started again after the workers' backoff.
final class HelperProcess {
    enum Kind: Equatable {
        case checkpointer
        case demoWriter(intervalMilliseconds: Int)
    }

    let kind: Kind
    var pid: pid_t = 0
    var control: FileDescriptor?
    var startedAt: UInt64 = 0
    /// Exits in a row without staying up `WorkerTable.stableAfterMilliseconds`: the backoff before the next start.
    var failures = 0
    var nextStartAt: UInt64 = 0

    init(_ kind: Kind) { self.kind = kind }

    var isRunning: Bool { pid != 0 }

    func arguments(databasePath: String) -> [String] {
        switch kind {
        case .checkpointer: ["checkpointer", "--db", databasePath]
        case .demoWriter(let interval): ["demo-writer", "--db", databasePath, "--interval-ms", String(interval)]
        }
    }

    /// Its records (started, could not start, exited) and the field naming its pid in them (the demo writer's
    /// predates the checkpointer's).
    var records: (started: LogEvent, failed: LogEvent, exited: LogEvent, pidField: String) {
        switch kind {
        case .checkpointer: (.checkpointerStarted, .checkpointerFailed, .checkpointerExited, "pid")
        case .demoWriter: (.demoWriterStarted, .demoWriterFailed, .demoWriterExited, "writer_pid")
        }
    }
}

extension Supervisor {
    /// The helpers this configuration runs.
    static func helpers(for config: SupervisorConfig) -> [HelperProcess] {
        var helpers: [HelperProcess] = []
        if config.role != .follower { helpers.append(HelperProcess(.checkpointer)) }
        if config.demo { helpers.append(HelperProcess(.demoWriter(intervalMilliseconds: config.demoIntervalMilliseconds))) }
        return helpers
    }

    var helpersGone: Bool { helpers.allSatisfy { !$0.isRunning } }

    func startHelper(_ h: HelperProcess) {
        let now = clock.nowMilliseconds
        do {
            let (mine, theirs) = try SocketPair.seqpacket()
            defer { theirs.close() }
            do {
                h.pid = try ChildProcess.spawn(
                    path: config.workerPath, arguments: h.arguments(databasePath: config.databasePath), control: theirs,
                    withoutEnvironment: Notifier.inheritedVariables)
            } catch {
                mine.close()
                throw error
            }
            h.control = mine
            h.startedAt = now
            journal.emit(.info, h.records.started, [h.records.pidField: .int(Int64(h.pid))])
        } catch {
            h.failures += 1
            h.nextStartAt = now + WorkerTable.backoffMilliseconds(failures: h.failures)
            journal.emit(.error, h.records.failed, ["error": .string("\(error)"), "path": .string(config.workerPath)])
        }
    }

    /// Starts helpers that are down and due (not while stopping or upgrading: the next process starts its own);
    /// forgets the failures of one that stayed up. Returns when it needs to look again.
    func superviseHelpers(now: UInt64) -> UInt64 {
        var next = UInt64.max
        for h in helpers {
            if h.isRunning {
                if h.failures > 0 && now - h.startedAt >= WorkerTable.stableAfterMilliseconds { h.failures = 0 }
            } else if !stopping && upgrade == nil {
                if now >= h.nextStartAt { startHelper(h) }
                if !h.isRunning { next = min(next, h.nextStartAt) }
            }
        }
        return next
    }

    /// A helper's exit: expected while stopping or upgrading, otherwise logged and restarted after a backoff.
    /// True when `pid` was a helper's.
    func helperExited(pid: pid_t, _ exit: ChildProcess.Exit) -> Bool {
        guard let h = helpers.first(where: { $0.pid == pid }) else { return false }
        h.pid = 0
        h.control?.close()
        h.control = nil
        let now = clock.nowMilliseconds
        guard !stopping && upgrade == nil else {
            h.nextStartAt = now
            return true
        }
        h.failures += 1
        h.nextStartAt = now + WorkerTable.backoffMilliseconds(failures: h.failures)
        journal.emit(.warning, h.records.exited, [
            "status": .string(exit.description), h.records.pidField: .int(Int64(pid)),
            "restart_in_ms": .int(Int64(h.nextStartAt - now)),
        ])
        return true
    }

    /// Closes every helper's socket: each exits at its next look (within its interval).
    func stopHelpers() {
        for h in helpers {
            h.control?.close()
            h.control = nil
        }
    }

    func signalHelpers(_ sig: Int32) {
        for h in helpers where h.isRunning { kill(h.pid, sig) }
    }
}
