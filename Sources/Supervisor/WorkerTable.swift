import Glibc
import LivefeedProtocol

/// One worker process slot. Owns the supervisor's end of the worker's control socket while the worker runs.
/// `state` is what the process is doing; `want` is what the supervisor wants; the loop closes the gap.
final class WorkerSlot {
    enum State: String {
        case stopped, starting, running, stopping
    }

    enum Want {
        case up, down
    }

    let index: Int
    var state: State = .stopped
    var want: Want = .up
    var pid: pid_t = 0
    var control: FileDescriptor?
    var startedAt: UInt64 = 0
    var nextStartAt: UInt64 = 0
    var restarts = 0
    var consecutiveFailures = 0
    var lastExit: ChildProcess.Exit?
    /// Connections handed to this worker and not yet reported closed.
    var connections: Set<UInt64> = []

    init(index: Int) { self.index = index }
}

/// The pool of worker slots and the bookkeeping of which connection lives where.
struct WorkerTable {
    var slots: [WorkerSlot]

    init(count: Int) { slots = (0..<count).map(WorkerSlot.init) }

    var runningCount: Int { slots.filter { $0.state == .running }.count }

    func slot(pid: pid_t) -> WorkerSlot? { slots.first { $0.pid == pid && $0.state != .stopped } }

    /// Running workers, least loaded first: the order to try a handoff in.
    func handoffOrder() -> [WorkerSlot] {
        slots.filter { $0.state == .running && $0.want == .up }.sorted { $0.connections.count < $1.connections.count }
    }

    /// Restart delay after `failures` quick exits in a row: 100 ms doubling, capped at 30 s.
    static func backoffMilliseconds(failures: Int) -> UInt64 {
        guard failures > 0 else { return 0 }
        return min(30_000, 100 << UInt64(min(failures - 1, 20)))
    }
}
