import Glibc
import LivefeedProtocol

/// The supervisor: one epoll set over the listeners, a signalfd and every worker's control socket.
/// Accepts, peeks at request heads, enforces the caps, hands descriptors to workers, restarts and replaces
/// workers, answers /healthz, /metrics and /status itself, and keeps the service manager informed (readiness,
/// status, watchdog). Owns the listeners (bound or passed by systemd), the signalfd, and each pending connection
/// until its handoff or refusal.
final class Supervisor {
    /// A connection a worker holds, and the slots it occupies.
    struct Handed {
        var view: ConnectionView
        var worker: WorkerSlot
        var client: String
        var clientKey: String
        var handedAt: UInt64
        /// The channel it subscribes to, counted for `--channel-affinity` (nil: not a channel, or affinity off).
        var channel: Int64? = nil
    }

    /// A SIGHUP in progress: the incoming generation is starting; `again` records a SIGHUP that arrived meanwhile.
    struct Reload {
        var startedAt: UInt64
        var deadline: UInt64
        var again = false
    }

    let config: SupervisorConfig
    let epoll: Epoll
    let signals: SignalFD
    /// Open until the stop begins; then empty.
    var listeners: [ListeningSocket]
    /// The listeners join the epoll set once the first generation serves (or a worker is found crash-looping,
    /// so /healthz can say so): connections that arrive earlier wait in the listen backlog instead of finding no
    /// worker. Under socket activation that includes those that came while the service was (re)starting.
    var doorOpen = false
    /// Where the http socket listens (the first, if systemd passed several), and the metrics socket if any.
    let address: SocketAddress
    let metricsAddress: SocketAddress?
    /// With a separate metrics socket, the http sockets no longer answer /metrics and /status.
    let hasMetricsSocket: Bool
    /// Whether the sockets came from systemd (LISTEN_FDS) rather than --listen.
    let socketActivated: Bool
    let journal: Journal
    let notifier: Notifier
    let clock = MonotonicClock()
    var workers: WorkerTable
    var caps: ConnectionCaps
    var pending: [UInt64: PendingConnection] = [:]
    /// The door's state and decisions (ids, deadlines, the bound, accept pauses); `pending` holds the same ids.
    var door: Door
    var handed: [UInt64: Handed] = [:]
    /// The worker each queued handoff waits for (see `HandoffQueue`).
    var queuedOn: [UInt64: WorkerSlot] = [:]
    /// Workers with handoffs queued this loop turn, sent at its end (`flushHandoffs`).
    var flushDue: [WorkerSlot] = []
    var metrics = SupervisorMetrics()
    var recentRefusals = RecentEvents()
    var recentDrops = RecentEvents()
    var recentWorkerEvents = RecentEvents()
    /// Refusals by reason, and dropped frames (`frames`, `connections`), in the last minute: for STATUS=.
    var refusalsLastMinute = MinuteCounts()
    var dropsLastMinute = MinuteCounts()
    var nextStatusAt: UInt64 = 0
    var nextWatchdogAt: UInt64 = 0
    /// Why WATCHDOG=1 is being withheld, while it is.
    var watchdogWithheld: String?
    var announcedReady = false
    var stopping = false
    var stopDeadline: UInt64 = 0
    var killSent = false
    var reload: Reload?
    /// `livefeed upgrade` under way (`Supervisor+Upgrade.swift`).
    var upgrade: Upgrade?
    /// Connections the previous process passed on (an upgrade), given to workers once they serve.
    var restoring: SocketActivation.Carried
    /// When the worker table next needs a look (a restart, a drain deadline, the silence check). Worker events set
    /// it to 0; other wakeups leave the table alone, so a connection costs the same however many workers there are.
    var nextWorkerCheck: UInt64 = 0
    /// When the loop last looked at the workers (see `creditOwnStall`).
    var lastLookedAt: UInt64 = 0
    var acceptEpisode: (start: UInt64, pauses: Int)? { door.acceptEpisode }
    /// The checkpointer and the demo writer (`HelperProcess`).
    let helpers: [HelperProcess]
    var peekBuffer: [UInt8]
    var recordBuffer = [UInt8](repeating: 0, count: RecordCodec.headerSize + RecordCodec.maxPayload + 1)
    var stderrBuffer = [UInt8](repeating: 0, count: 4096)
    let startedAt: UInt64

    init(
        config: SupervisorConfig, listeners: [ListeningSocket], socketActivated: Bool, journal: Journal,
        notifier: Notifier, carried: SocketActivation.Carried = .init()
    ) throws {
        restoring = carried
        precondition(
            listeners.contains { $0.role == .http } && listeners.count <= SocketActivation.maxSockets,
            "an http listener, and at most \(SocketActivation.maxSockets)")
        self.config = config
        helpers = Self.helpers(for: config)
        self.listeners = listeners.map {
            var socket = $0
            socket.setAcceptedDefaults(
                peekFromOffset: config.peekFromOffset, deferAcceptSeconds: config.deferAcceptSeconds)
            return socket
        }
        self.socketActivated = socketActivated
        self.journal = journal
        self.notifier = notifier
        address = listeners.first { $0.role == .http }?.address ?? config.listen
        metricsAddress = listeners.first { $0.role == .metrics }?.address
        hasMetricsSocket = listeners.contains { $0.role == .metrics }
        epoll = try Epoll()
        signals = try SignalFD(signals: [SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR2])
        workers = WorkerTable(count: config.workers)
        workers.descriptorRoom = WorkerTable.descriptorRoom(limit: ResourceLimits.descriptorLimit())
        caps = ConnectionCaps(limits: config.caps)
        door = Door(
            .init(
                maxPending: Door.pendingLimit(
                    configured: config.maxPending, descriptorLimit: ResourceLimits.descriptorLimit(),
                    workers: config.workers),
                headTimeoutMilliseconds: config.headTimeoutMilliseconds))
        peekBuffer = [UInt8](repeating: 0, count: config.maxHeadBytes + 1)
        startedAt = MonotonicClock().nowMilliseconds
        try epoll.add(signals.fd, events: [.readable], token: EpollToken.signals.rawValue)
    }

    func run() throws -> Int32 {
        var fields: [String: RecordValue] = [
            "address": .string(address.description), "max_connections": .int(Int64(config.caps.global)),
            "max_live": .int(Int64(config.caps.live)), "max_per_client": .int(Int64(config.caps.perClient)),
            "max_pending": .int(Int64(door.maxPending)),
            "sockets": .string(socketActivated ? "systemd" : "bound"), "log_target": .string(journal.target.rawValue),
        ]
        if let metricsAddress { fields["metrics_address"] = .string(metricsAddress.description) }
        if let period = notifier.watchdogPeriodMilliseconds { fields["watchdog_ping_ms"] = .int(Int64(period)) }
        journal.emit(.info, .listening, fields)
        notifier.update(status: statusLine(now: clock.nowMilliseconds))
        for slot in workers.current { start(slot) }
        for h in helpers { startHelper(h) }
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
            checkUpgrade(now: after)
            serviceManagerTick(now: after)
            flushHandoffs()
            if stopping {
                if workers.all.allSatisfy({ !$0.hasProcess }) && helpersGone { break }
                if after >= stopDeadline && !killSent {
                    killSent = true
                    for slot in workers.all where slot.hasProcess { kill(slot.pid, SIGKILL) }
                    signalHelpers(SIGKILL)
                }
            }
        }
        journal.emit(.info, .stopped, ["uptime_ms": .int(Int64(clock.nowMilliseconds - startedAt))])
        // The last word for `systemctl status`, which otherwise keeps showing "stopping (…)" after the stop.
        notifier.send([.status("stopped; every connection drained or closed")])
        return 0
    }

    private func nextTimeout(now: UInt64) -> Int {
        var wake = now + 1000
        if let deadline = door.nextDeadline { wake = min(wake, deadline) }
        wake = min(wake, nextWorkerCheck)
        if notifier.watchdogPeriodMilliseconds != nil { wake = min(wake, nextWatchdogAt) }
        if let reload { wake = min(wake, reload.deadline) }
        if let upgrade { wake = min(wake, upgrade.deadline) }
        if stopping { wake = min(wake, now + 100) }
        return Int(wake > now ? wake - now : 0)
    }

    private func dispatch(_ raw: UInt64, _ events: Epoll.Events) {
        switch EpollToken(rawValue: raw) {
        case .listener(let index)?: acceptAll(from: index)
        case .signals?: handleSignals()
        case .worker(let serial)?:
            if let slot = workers.slot(serial: serial) { controlReady(slot, events) }
        case .pending(let id)?:
            if let p = pending[id] { advance(p, events) }
        case .workerStderr(let serial)?:
            if let slot = workers.slot(serial: serial) { readStderr(of: slot) }
        case .demoWriter?, nil: break
        }
    }

    // MARK: signals

    private func handleSignals() {
        let received: [SignalFD.Received]
        do {
            received = try signals.drainReceived()
        } catch {
            journal.emit(.error, .signalfdFailed, ["error": .string("\(error)")])
            return
        }
        for r in received {
            let sig = r.signal
            switch sig {
            case SIGCHLD:
                reapChildren()
                nextWorkerCheck = 0
            // `livefeed stop` (the unit's ExecStop=, as root) queues SIGTERM with the file descriptor store's
            // size when systemd runs a restart: keep the connections for the next process. A plain SIGTERM stops.
            case SIGTERM where r.queuedValue.map { $0 > 0 } == true && (r.senderUID == 0 || r.senderUID == getuid()):
                beginRestart(capacity: Int(r.queuedValue!))
            case SIGTERM, SIGINT: beginStop(signal: sig)
            case SIGHUP: beginReload()
            case SIGUSR2: beginUpgrade()
            default: break
            }
        }
    }

    func beginStop(signal: Int32) {
        guard !stopping else { return }
        stopping = true
        let now = clock.nowMilliseconds
        stopDeadline = now + config.drainMilliseconds
        journal.emit(.info, .stopping, ["signal": .int(Int64(signal)), "connections": .int(Int64(handed.count))])
        if reload != nil {
            journal.emit(.warning, .reloadAbandoned, ["reason": .string("stopping")])
            reload = nil
        }
        if let u = upgrade {
            // Stopping wins: what was held for the next process is closed as a stop closes it.
            upgrade = nil
            for c in u.carried { closeMove(QueuedMove(fd: c.fd, state: c.state, from: -1), reason: "stopping") }
            for h in u.parked { refuseHandoff(h) }
        }
        for l in listeners {
            epoll.remove(l.listener.fd)
            l.listener.fd.close()
        }
        listeners = []
        door.acceptResumed()
        for p in Array(pending.values) { dropPending(p, reason: "shutdown") }
        refuseAllQueuedHandoffs()
        for slot in workers.all where slot.want == .up {
            retire(slot, retryAfterMilliseconds: config.stopRetryAfterMilliseconds, now: now)
        }
        stopHelpers()
        // After the workers were told to drain, so the status counts what is draining.
        notifier.send([.stopping, .status(statusLine(now: now)), .extendTimeout(microseconds: stopTimeoutExtension(now: now))])
    }
}
