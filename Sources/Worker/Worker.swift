import Glibc
import LivefeedProtocol

/// The worker process: builds its parts and runs the loop over them. Owns the control socket (records in through
/// `control`, out through `reporter`), the signal descriptor, and the timers of the loop turn (the tick, the sweep
/// of deadlines, the drain, the gauges).
final class Worker: LoopParts {
    /// Signals an operator may send to every process of the unit (`systemctl kill`, Ctrl-C in a terminal) or to a
    /// worker alone. HUP, USR1 and USR2 are the supervisor's business: ignored here. TERM and INT drain this worker
    /// as the supervisor's `drain` would (live clients get 1012 spread over a second, then it exits; the supervisor
    /// restarts it), so no client sees a bare EOF.
    static let ignoredSignals: [Int32] = [SIGHUP, SIGUSR1, SIGUSR2]
    static let drainSignals: [Int32] = [SIGTERM, SIGINT]
    static let signalDrainSpreadMilliseconds: Int64 = 1000
    static let signalDrainRetryAfterMilliseconds: Int64 = 2000
    static let gaugesIntervalMilliseconds: UInt64 = 1000
    static let sweepIntervalMilliseconds: UInt64 = 250
    /// WAL pages past which a worker's own commit checkpoints (the checkpointer process, `WALCheckpointer`, normally
    /// has long before: at 1,000 messages per second it finds ~2,000 pages every 200 ms).
    static let checkpointFallbackPages = 8000

    private let config: WorkerConfig
    private let loop: WorkerLoop
    private let store: MessageStore
    private let reporter: Reporter
    private let signalFD: SignalFD
    private let assets: StaticAssets
    private let connections: Connections
    private let live: LiveService
    private let http: HTTPService
    private let ticker: Ticker
    private let drainer: Drainer
    private let timeouts: ConnectionState.Timeouts
    private var controlBuffer = [UInt8](repeating: 0, count: RecordCodec.headerSize + RecordCodec.maxPayload + 1)
    private var controlWantsWrite = false
    private var nextTick: UInt64 = 0
    private var tickStarted: UInt64 = 0
    /// The newest message the tick had seen when the current one started: what it carried is the difference.
    private var seenAtTickStart: Int64 = 0
    private var pacer = TickPacer()
    /// Records taken from the control socket per loop turn, at most (a message's records are taken whole).
    static let controlRecordsPerTurn = 64
    /// How long what the tick last saw (the newest message, and with it the channel rows `ChannelFeed` keeps) stands
    /// for the database: longer than the longest tick pause, so a busy worker's joins need no query, short enough
    /// that an idle one looks again.
    static let currentWithinMilliseconds: UInt64 = 100
    private var nextSweep: UInt64 = 0
    private var nextGauges: UInt64 = 0
    private(set) var running = true

    init(config: WorkerConfig) throws {
        self.config = config
        loop = try WorkerLoop()
        // Signals first: a follower's Litestream VFS extension starts Go runtime threads when it is loaded, and
        // they keep the signal mask of that moment. Blocked here, SIGTERM still reaches the signalfd (a drain);
        // loaded first, a Go thread took it and its default action killed the worker.
        for s in Self.ignoredSignals { signal(s, SIG_IGN) }
        signalFD = try SignalFD(signals: Self.drainSignals)
        store = try config.openStore()
        if config.role != .follower {
            // Checkpoints off the loop's path: the supervisor's checkpointer process (`WALCheckpointer`), and each
            // connection's own automatic checkpoint only as a fallback far past SQLite's 1,000 pages.
            try store.db.execute("PRAGMA wal_autocheckpoint = \(Self.checkpointFallbackPages)")
        }
        assets = StaticAssets.load(staticDirectory: config.staticDirectory, htmxDirectory: config.htmxDirectory)
        let control = FileDescriptor(owning: config.controlFD)
        try control.setNonBlocking()
        reporter = Reporter(socket: control)
        try loop.epoll.add(signalFD.fd, events: [.readable], token: WorkerToken.signals.raw)
        try loop.epoll.add(control, events: [.readable], token: WorkerToken.control.raw)

        let access = AccessPolicy(config: config)
        let feeds = LiveFeeds(config: config)
        connections = Connections(loop: loop, reporter: reporter, config: config)
        live = LiveService(
            connections: connections, reporter: reporter, clock: loop.clock, config: config, store: store,
            access: access, feeds: feeds)
        http = HTTPService(
            connections: connections, live: live, reporter: reporter, clock: loop.clock, config: config, store: store,
            assets: assets, access: access, dashboard: feeds.dashboard)
        ticker = try Ticker(store: store, feeds: feeds, live: live, reporter: reporter)
        drainer = Drainer(connections: connections, live: live, http: http, reporter: reporter)
        timeouts = ConnectionState.Timeouts(
            idle: config.idleTimeoutMilliseconds, request: config.requestTimeoutMilliseconds,
            send: config.sendTimeoutMilliseconds, pingInterval: config.pingIntervalMilliseconds,
            pingTimeout: config.pingTimeoutMilliseconds)
        connections.http = http
        connections.live = live
        live.http = http
        live.lastSeen = { [unowned ticker] in ticker.lastSeen }
        live.lastSeenIsCurrent = { [unowned ticker] in ticker.lastSeenIsCurrent(within: Self.currentWithinMilliseconds) }
        http.stored = { [unowned ticker] in ticker.noteWrite() }
        feeds.channel.replayFailed = { [reporter] error in
            reporter.log(.warning, .replayFailed, ["error": .string("\(error)")])
        }
    }

    func run() throws {
        reporter.send(.workerReady(pid: Int64(getpid())))
        if !assets.missing.isEmpty && config.index == 0 {
            reporter.log(.warning, .livePagesOff, [
                "missing": .string(assets.missing.joined(separator: ", ")),
                "hint": .string("run scripts/setup to fetch htmx; pages render without live updates"),
            ])
        }
        do {
            try loop.run(self)
        } catch {
            reporter.endTurn()  // what this turn logged, before the error ends the worker
            throw error
        }
        for c in connections.all { connections.close(c, reason: drainer.draining ? "drained" : "worker_exit") }
        // Every close record frees a slot in the supervisor: wait (bounded) for the socket rather than lose them.
        reporter.flushBeforeExit(deadline: loop.clock.nowMilliseconds + 3000, clock: loop.clock)
    }

    // MARK: LoopParts

    func connection(_ id: UInt64, _ events: Epoll.Events) { connections.handle(id, events) }

    func signals() {
        guard let received = try? signalFD.drain(), !received.isEmpty else { return }
        reporter.log(.info, .workerSignalled, ["signal": .int(Int64(received[0]))])
        drainer.begin(
            spreadMilliseconds: Self.signalDrainSpreadMilliseconds,
            retryAfterMilliseconds: Self.signalDrainRetryAfterMilliseconds, now: loop.clock.nowMilliseconds)
    }

    func turn(now: UInt64) -> Int64 {
        // Ticks are timed from when the previous one *ended* (its fan-out included, which may span turns): a poll
        // interval later to look for other programs' rows, later still when the worker is loaded (`TickPacer`).
        // An own write goes out as soon as the previous fan-out has ended unless the worker is loaded
        // (`TickPacer.ownWriteDue`). Once, before fan-outs were sliced and the pacer paused, ticking on every own
        // write fanned each message out alone while the publisher waited for the loop (one message per request at
        // 1,000/s to 1,000 subscribers held it to ~110/s); now a loaded worker's own writes wait for the pause.
        let channel = live.feeds.channel
        var ended = false
        if channel.fanOutPending {
            channel.continueFanOut()
            ended = !channel.fanOutPending
        } else if now >= nextTick || (ticker.wroteSinceTick && now >= pacer.ownWriteDue) {
            tickStarted = now
            seenAtTickStart = ticker.lastSeen
            ticker.tick()
            ended = !channel.fanOutPending
        }
        if ended {
            // A poll interval after the tick ended, or as long again as it took when the worker is loaded, so the
            // next one carries what came meanwhile in bigger batches with fewer writes (`TickPacer`). One message
            // per request, side by side: 10,000 subscribers at 100/s 1.0 µs of CPU per frame instead of 3.5;
            // 1,000 at 1,000/s 1.3 instead of 1.7-2.1.
            let (carried, overflow) = ticker.lastSeen.subtractingReportingOverflow(seenAtTickStart)
            nextTick = pacer.next(
                started: tickStarted, ended: loop.clock.nowMilliseconds, carried: overflow ? 0 : carried,
                waiting: ticker.changedSinceTick(), poll: UInt64(config.pollMilliseconds))
        }
        ticker.serviceReplays()
        http.serviceBacklog()
        if now >= nextSweep {
            sweep(now: now)
            nextSweep = now + Self.sweepIntervalMilliseconds
        }
        drainer.service(now: now)
        sendGaugesIfDue(now: now)
        reporter.endTurn()
        updateControlInterest()
        if reporter.peerGone || (drainer.draining && (connections.isEmpty || now >= drainer.deadline)) {
            running = false
        }

        var timeout = Int64(nextGauges) - Int64(now)
        timeout = min(timeout, Int64(nextSweep) - Int64(now))
        if live.feeds.hasSubscribers { timeout = min(timeout, Int64(nextTick) - Int64(now)) }
        if ticker.wroteSinceTick { timeout = min(timeout, Int64(min(nextTick, pacer.ownWriteDue)) - Int64(now)) }
        if live.feeds.channel.hasReplays || http.hasBacklog || channel.fanOutPending { timeout = 0 }
        if let drainWake = drainer.timeout(now: now) { timeout = min(timeout, drainWake) }
        return max(0, timeout)
    }

    /// Every connection's one deadline (`ConnectionState`), acted on when it has passed.
    private func sweep(now: UInt64) {
        for c in connections.all where !c.closed {
            c.observeProgress(now: now)
            guard let expiry = c.state.due(now: now, timeouts) else { continue }
            switch expiry {
            case .requestTimeout:
                http.respond(c, .error(408, "request_timeout", "request not received in time", keepAlive: false))
            case .ping:
                if case .live(let s) = c.phase { live.ping(s) }
            case .close(let reason):
                connections.close(c, reason: reason)
            }
        }
    }

    /// Sends the gauges record when it is due; it is also the supervisor's sign that this loop is alive.
    private func sendGaugesIfDue(now: UInt64) {
        guard now >= nextGauges else { return }
        nextGauges = now + Self.gaugesIntervalMilliseconds
        var gauges = WorkerGauges(
            recordsQueued: Int64(reporter.queuedRecords), recordsQueuedPeak: Int64(reporter.peakQueuedRecords),
            recordsDropped: reporter.droppedRecords)
        for c in connections.all {
            gauges.connections[c.handedView, default: 0] += 1
            gauges.queuedBytes += Int64(c.out.byteCount)
        }
        gauges.newestMessageID = min(max(0, ticker.lastSeen), WorkerGauges.plausibleMaximum)
        gauges.replicaLagMilliseconds = replicaLag()
        reporter.send(.workerGauges(gauges))
    }

    /// Scale-out: a primary beats (`meta.heartbeat`, once a second with the gauges); a follower's lag is now less
    /// the later of the newest beat and the newest message its replica holds (nil before the first beat). Wall clocks: the hosts must keep time (NTP).
    private func replicaLag() -> Int64? {
        let now = Timestamp.nowUnixMilliseconds()
        do {
            switch config.role {
            case .standalone: return nil
            case .primary:
                try store.beatIfDue(nowUnixMilliseconds: now)
                return nil
            case .follower:
                // Both are upper bounds of the lag: the beat is up to a second old when it is written, the newest
                // message as old as the last post. While messages flow the second is the tight one.
                guard let beat = try store.heartbeat() else { return nil }
                return Self.replicaLag(now: now, heartbeat: beat, newestSentAt: try store.newestSentAt())
            }
        } catch {
            reporter.log(.warning, .pollFailed, ["error": .string("heartbeat: \(error)")])
            return nil
        }
    }

    /// Now less the later of the two stamps, within what a gauge may carry. Both come from rows another program
    /// may have written: a stamp before 1970 (or absurdly negative) counts as 0, so nothing can overflow, and one
    /// from the future gives 0.
    static func replicaLag(now: Int64, heartbeat: Int64, newestSentAt: Int64?) -> Int64 {
        let newest = max(0, heartbeat, newestSentAt ?? 0)
        return min(max(0, now - newest), WorkerGauges.plausibleMaximum)
    }

    // MARK: the control socket

    func control(_ events: Epoll.Events) {
        if events.contains(.writable) {
            reporter.flush()
            updateControlInterest()
        }
        guard events.contains(.readable) || events.contains(.hangup) || events.contains(.error) else { return }
        // Bounded per wakeup (the socket is level-triggered: the rest waits for the next turn), so a burst of
        // handoffs or of connections moving here on a reload cannot hold back the clients already served.
        var handled = 0
        while running && handled < Self.controlRecordsPerTurn {
            let received: IOResult<FDPassing.ReceivedBatch>
            do {
                received = try controlBuffer.withUnsafeMutableBytes { raw throws(SystemError) in
                    try FDPassing.receiveBatch(on: reporter.socket, into: raw)
                }
            } catch {
                running = false
                return
            }
            guard case .done(let r) = received else { return }
            if r.byteCount == 0 && r.descriptors.isEmpty {
                // The supervisor is gone: a worker never outlives it.
                running = false
                return
            }
            // One message holds one or more records; the descriptors go, in order, to the records that carry one
            // (handoffs and moved connections). Fewer descriptors than such records: the kernel could not give us
            // the rest (MSG_CTRUNC, our descriptor table is full), and those clients are reported lost.
            var descriptors = r.descriptors[...]
            let records: [Record]
            do {
                records = try RecordCodec.records(in: controlBuffer[0..<r.byteCount])
            } catch {
                descriptors.forEach { $0.close() }
                reporter.log(.error, .badControlRecord, ["error": .string("\(error)")])
                handled += 1
                continue
            }
            handled += max(1, records.count)
            for record in records {
                switch record {
                case .handoff(let id, let view, let client):
                    guard let fd = descriptors.popFirst() else {
                        lostDescriptor(id, view, truncated: r.anomaly)
                        continue
                    }
                    connections.adopt(fd, id: id, view: view, client: client)
                case .drain(let spread, let retry, let handover):
                    drainer.begin(
                        spreadMilliseconds: spread, retryAfterMilliseconds: retry, handover: handover,
                        now: loop.clock.nowMilliseconds)
                case .adoptLive(let state):
                    guard let fd = descriptors.popFirst() else {
                        lostDescriptor(state.connectionID, state.view, truncated: r.anomaly)
                        continue
                    }
                    live.adopt(fd, state)
                case let record:
                    reporter.log(.warning, .unexpectedRecord, ["kind": .string("\(record.kind)")])
                }
            }
            // More descriptors than records that take one: not ours to keep.
            descriptors.forEach { $0.close() }
        }
    }

    /// A handoff or moved connection whose descriptor the kernel could not give us (MSG_CTRUNC: our descriptor
    /// table is full). The client is lost with it; the supervisor learns at once, so its slots are freed.
    private func lostDescriptor(_ id: UInt64, _ view: ConnectionView, truncated: Bool) {
        reporter.log(.error, .handoffWithoutDescriptor, [
            "conn": .int(Int64(bitPattern: id)), "truncated": .int(truncated ? 1 : 0),
        ])
        reporter.send(.connectionClosed(connectionID: id, view: view, fields: ["reason": .string("no_descriptor")]))
    }

    private func updateControlInterest() {
        guard reporter.hasPending != controlWantsWrite else { return }
        controlWantsWrite = reporter.hasPending
        let events: Epoll.Events = controlWantsWrite ? [.readable, .writable] : [.readable]
        try? loop.epoll.modify(reporter.socket, events: events, token: WorkerToken.control.raw)
    }
}
