import Glibc
import LivefeedProtocol

/// The supervisor: one epoll set over the listener, a signalfd and every worker's control socket.
/// Accepts, peeks at request heads, enforces the caps, hands descriptors to workers, restarts and replaces
/// workers, answers /healthz, /metrics and /status itself. Owns the listener, the signalfd, and each pending
/// connection until its handoff or refusal.
final class Supervisor {
    enum Token {
        static let listener: UInt64 = 1
        static let signals: UInt64 = 2
        static let workerBase: UInt64 = 1 << 40
        static let demoWriter: UInt64 = 1 << 41
        // Pending connections use their connection id (< 2^40).
    }

    /// A connection a worker holds, and the slots it occupies.
    struct Handed {
        var view: ConnectionView
        var worker: WorkerSlot
        var client: String
        var clientKey: String
        var handedAt: UInt64
    }

    /// A SIGHUP in progress: the incoming generation is starting; `again` records a SIGHUP that arrived meanwhile.
    struct Reload {
        var startedAt: UInt64
        var deadline: UInt64
        var again = false
    }

    /// How long accepting pauses after EMFILE/ENFILE before it is tried again.
    static let acceptPauseMilliseconds: UInt64 = 100
    /// How long a connection over its address's cap may take to send its head, so its refusal can be a page or
    /// JSON as the path asks; and how many such connections may wait at once before refusals stop waiting.
    static let overCapGraceMilliseconds: UInt64 = 1000
    static let maxOverCapWaiting = 256

    let config: SupervisorConfig
    let epoll: Epoll
    let signals: SignalFD
    var listener: Listener?
    let address: SocketAddress
    let journal: Journal
    let clock = MonotonicClock()
    var workers: WorkerTable
    var caps: ConnectionCaps
    var pending: [UInt64: PendingConnection] = [:]
    var pendingDeadlines = DeadlineQueue()
    var overCapDeadlines = DeadlineQueue()
    var overCapWaiting = 0
    var handed: [UInt64: Handed] = [:]
    var nextConnectionID: UInt64 = 16  // below 16 are fixed tokens
    var metrics = SupervisorMetrics()
    var recentRefusals = RecentEvents()
    var recentDrops = RecentEvents()
    var recentWorkerEvents = RecentEvents()
    var announcedReady = false
    var stopping = false
    var stopDeadline: UInt64 = 0
    var killSent = false
    var reload: Reload?
    /// When the worker table next needs a look (a restart, a drain deadline, the silence check). Worker events set
    /// it to 0; other wakeups leave the table alone, so a connection costs the same however many workers there are.
    var nextWorkerCheck: UInt64 = 0
    /// While set, the listener is out of the epoll set (descriptors ran out) until this time.
    var acceptPausedUntil: UInt64?
    /// The current descriptor-exhaustion episode: when it began and how many pauses it took.
    var acceptEpisode: (start: UInt64, pauses: Int)?
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
        caps = ConnectionCaps(limits: config.caps)
        peekBuffer = [UInt8](repeating: 0, count: config.maxHeadBytes + 1)
        startedAt = MonotonicClock().nowMilliseconds
        try epoll.add(listener.fd, events: [.readable], token: Token.listener)
        try epoll.add(signals.fd, events: [.readable], token: Token.signals)
    }

    func run() throws -> Int32 {
        journal.emit(.info, "listening", [
            "address": .string(address.description), "max_connections": .int(Int64(config.caps.global)),
            "max_live": .int(Int64(config.caps.live)), "max_per_client": .int(Int64(config.caps.perClient)),
        ])
        for slot in workers.current { start(slot) }
        if config.demo { startDemoWriter() }
        while true {
            let now = clock.nowMilliseconds
            try epoll.wait(timeoutMilliseconds: Int32(nextTimeout(now: now))) { token, events in
                dispatch(token, events)
            }
            let after = clock.nowMilliseconds
            expirePending(now: after)
            resumeAcceptingIfDue(now: after)
            if after >= nextWorkerCheck { superviseWorkers(now: after) }
            checkReload(now: after)
            if stopping {
                if workers.all.allSatisfy({ !$0.hasProcess }) && demoWriterPID == 0 { break }
                if after >= stopDeadline && !killSent {
                    killSent = true
                    for slot in workers.all where slot.hasProcess { kill(slot.pid, SIGKILL) }
                    if demoWriterPID != 0 { kill(demoWriterPID, SIGKILL) }
                }
            }
        }
        journal.emit(.info, "stopped", ["uptime_ms": .int(Int64(clock.nowMilliseconds - startedAt))])
        return 0
    }

    private func nextTimeout(now: UInt64) -> Int {
        var wake = now + 1000
        for deadline in [pendingDeadlines.nextDeadline, overCapDeadlines.nextDeadline, acceptPausedUntil] {
            if let deadline { wake = min(wake, deadline) }
        }
        wake = min(wake, nextWorkerCheck)
        if let reload { wake = min(wake, reload.deadline) }
        if stopping { wake = min(wake, now + 100) }
        return Int(wake > now ? wake - now : 0)
    }

    private func dispatch(_ token: UInt64, _ events: Epoll.Events) {
        switch token {
        case Token.listener: acceptAll()
        case Token.signals: handleSignals()
        case Token.demoWriter: break
        case Token.workerBase..<Token.demoWriter:
            if let slot = workers.slot(token: token) { readRecords(from: slot, events) }
        default:
            if let p = pending[token] { advance(p, events) }
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
            case SIGCHLD:
                reapChildren()
                nextWorkerCheck = 0
            case SIGTERM, SIGINT: beginStop(signal: sig)
            case SIGHUP: beginReload()
            default: break
            }
        }
    }

    private func beginStop(signal: Int32) {
        guard !stopping else { return }
        stopping = true
        let now = clock.nowMilliseconds
        stopDeadline = now + config.drainMilliseconds
        Notify.send("STOPPING=1")
        journal.emit(.info, "stopping", ["signal": .int(Int64(signal)), "connections": .int(Int64(handed.count))])
        if reload != nil {
            journal.emit(.warning, "reload_abandoned", ["reason": .string("stopping")])
            reload = nil
        }
        if let l = listener {
            epoll.remove(l.fd)
            l.fd.close()
            listener = nil
            acceptPausedUntil = nil
        }
        for p in Array(pending.values) { dropPending(p, reason: "shutdown") }
        for slot in workers.all where slot.want == .up {
            retire(slot, retryAfterMilliseconds: config.stopRetryAfterMilliseconds, now: now)
        }
        if let c = demoWriterControl {
            epoll.remove(c)
            c.close()
            demoWriterControl = nil
        }
    }
}
