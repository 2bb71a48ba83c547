import Glibc
import LivefeedProtocol

/// The supervisor: one epoll set over the listener, a signalfd and every worker's control socket.
/// Accepts, peeks at request heads, hands descriptors to workers, restarts workers, answers /healthz,
/// /metrics and /status itself. Owns the listener, the signalfd, and each pending connection until handoff.
final class Supervisor {
    enum Token {
        static let listener: UInt64 = 1
        static let signals: UInt64 = 2
        static let workerBase: UInt64 = 1 << 40
        static let demoWriter: UInt64 = 1 << 41
        // Pending connections use their connection id (< 2^40).
    }

    struct Handed {
        var view: ConnectionView
        var worker: Int
        var client: String
        var handedAt: UInt64
    }

    let config: SupervisorConfig
    let epoll: Epoll
    let signals: SignalFD
    var listener: Listener?
    let address: SocketAddress
    let journal: Journal
    let clock = MonotonicClock()
    var workers: WorkerTable
    var pending: [UInt64: PendingConnection] = [:]
    var handed: [UInt64: Handed] = [:]
    var nextConnectionID: UInt64 = 16  // below 16 are fixed tokens
    var metrics = SupervisorMetrics()
    var announcedReady = false
    var stopping = false
    var stopDeadline: UInt64 = 0
    var killSent = false
    var demoWriterPID: pid_t = 0
    var demoWriterControl: FileDescriptor?
    var peekBuffer: [UInt8]
    var recordBuffer = [UInt8](repeating: 0, count: RecordCodec.headerSize + RecordCodec.maxPayload + 1)
    let startedAt: UInt64

    init(config: SupervisorConfig, listener: Listener, journal: Journal) throws {
        self.config = config
        self.listener = listener
        self.journal = journal
        address = listener.localAddress() ?? config.listen
        epoll = try Epoll()
        signals = try SignalFD(signals: [SIGTERM, SIGINT, SIGHUP, SIGCHLD])
        workers = WorkerTable(count: config.workers)
        peekBuffer = [UInt8](repeating: 0, count: config.maxHeadBytes + 1)
        startedAt = MonotonicClock().nowMilliseconds
        try epoll.add(listener.fd, events: [.readable], token: Token.listener)
        try epoll.add(signals.fd, events: [.readable], token: Token.signals)
    }

    func run() throws -> Int32 {
        journal.emit(.info, "listening", ["address": .string(address.description)])
        for slot in workers.slots { start(slot) }
        if config.demo { startDemoWriter() }
        while true {
            let now = clock.nowMilliseconds
            try epoll.wait(timeoutMilliseconds: Int32(nextTimeout(now: now))) { token, events in
                dispatch(token, events)
            }
            let after = clock.nowMilliseconds
            expirePending(now: after)
            superviseWorkers(now: after)
            if stopping {
                if workers.slots.allSatisfy({ $0.state == .stopped }) && demoWriterPID == 0 { break }
                if after >= stopDeadline && !killSent {
                    killSent = true
                    for slot in workers.slots where slot.state != .stopped { kill(slot.pid, SIGKILL) }
                    if demoWriterPID != 0 { kill(demoWriterPID, SIGKILL) }
                }
            }
        }
        journal.emit(.info, "stopped", ["uptime_ms": .int(Int64(clock.nowMilliseconds - startedAt))])
        return 0
    }

    private func nextTimeout(now: UInt64) -> Int {
        var timeout: UInt64 = 1000
        if !pending.isEmpty { timeout = 100 }
        for slot in workers.slots where slot.state == .stopped && slot.want == .up {
            timeout = min(timeout, slot.nextStartAt > now ? slot.nextStartAt - now : 0)
        }
        if stopping { timeout = min(timeout, 100) }
        return Int(timeout)
    }

    private func dispatch(_ token: UInt64, _ events: Epoll.Events) {
        switch token {
        case Token.listener: acceptAll()
        case Token.signals: handleSignals()
        case Token.demoWriter: break
        case Token.workerBase...:
            let index = Int(token - Token.workerBase)
            if index < workers.slots.count { readRecords(from: workers.slots[index], events) }
        default:
            if let p = pending[token] { advance(p) }
        }
    }

    // MARK: signals

    private func handleSignals() {
        let received: [Int32]
        do {
            received = try signals.drain()
        } catch {
            journal.emit(.error, "signalfd_failed", ["error": .string("\(error)")])
            return
        }
        for sig in received {
            switch sig {
            case SIGCHLD: reapChildren()
            case SIGTERM, SIGINT: beginStop(signal: sig)
            case SIGHUP: journal.emit(.info, "reload_requested", [:])
            default: break
            }
        }
    }

    private func beginStop(signal: Int32) {
        guard !stopping else { return }
        stopping = true
        stopDeadline = clock.nowMilliseconds + config.drainMilliseconds
        Notify.send("STOPPING=1")
        journal.emit(.info, "stopping", ["signal": .int(Int64(signal)), "connections": .int(Int64(handed.count))])
        if let l = listener {
            epoll.remove(l.fd)
            l.fd.close()
            listener = nil
        }
        for p in Array(pending.values) { dropPending(p, reason: "shutdown") }
        for slot in workers.slots {
            slot.want = .down
            if slot.state == .running || slot.state == .starting {
                slot.state = .stopping
                send(.drain(spreadMilliseconds: config.closeSpreadMilliseconds), to: slot)
            }
        }
        if let c = demoWriterControl {
            epoll.remove(c)
            c.close()
            demoWriterControl = nil
        }
    }
}
