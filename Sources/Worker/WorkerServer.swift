import Glibc
import LivefeedProtocol

/// The worker process: one epoll loop over the supervisor's control socket and every client connection it was
/// handed. Owns the epoll set, the control socket (through `reporter`) and each connection's descriptor.
final class WorkerServer {
    static let controlToken = UInt64.max
    static let signalToken = UInt64.max - 1
    /// Signals an operator may send to every process of the unit (`systemctl kill`, Ctrl-C in a terminal) or to a
    /// worker alone. HUP, USR1 and USR2 are the supervisor's business: ignored here. TERM and INT drain this worker
    /// as the supervisor's `drain` would (live clients get 1012 spread over a second, then it exits; the supervisor
    /// restarts it), so no client sees a bare EOF.
    static let ignoredSignals: [Int32] = [SIGHUP, SIGUSR1, SIGUSR2]
    static let drainSignals: [Int32] = [SIGTERM, SIGINT]
    static let signalDrainSpreadMilliseconds: Int64 = 1000
    static let signalDrainRetryAfterMilliseconds: Int64 = 2000

    let config: WorkerConfig
    let epoll: Epoll
    let store: MessageStore
    let reporter: Reporter
    let clock = MonotonicClock()
    let signals: SignalFD
    var connections: [UInt64: Connection] = [:]
    let access: AccessPolicy
    /// Files under /static/ (htmx, its ws extension, our page glue), read once at start.
    let assets: StaticAssets
    /// Every live view's subscribers and what they are sent.
    let feeds: LiveFeeds
    let pages: PageHandler
    let fragments: FragmentHandler
    let api: APIHandler
    /// HTTP connections that used their turn with requests still waiting: served again next loop turn.
    var httpBacklog: [UInt64: Connection] = [:]
    /// The highest message id this worker has fetched and fanned out.
    var lastSeen: Int64
    /// The highest id the database had assigned when this worker last looked (see `MessageStore+Epoch.swift`).
    var highWater: Int64
    var lastDataVersion: Int64
    var wroteSinceTick = false
    var nextPoll: UInt64 = 0
    var nextSweep: UInt64 = 0
    var draining = false
    var drainDeadline: UInt64 = 0
    var drainSchedule: DrainSchedule?
    var nextDrainScan: UInt64 = 0
    var nextGauges: UInt64 = 0
    private var controlWantsWrite = false
    var running = true
    private var readScratch = [UInt8](repeating: 0, count: 64 * 1024)
    let iovScratch = IOVecScratch()
    private var controlBuffer = [UInt8](repeating: 0, count: RecordCodec.headerSize + RecordCodec.maxPayload + 1)

    init(config: WorkerConfig) throws {
        self.config = config
        epoll = try Epoll()
        store = try MessageStore(path: config.databasePath)
        access = AccessPolicy(config: config)
        assets = StaticAssets.load(staticDirectory: config.staticDirectory, htmxDirectory: config.htmxDirectory)
        feeds = LiveFeeds(config: config)
        pages = PageHandler(store: store, assets: assets, dashboard: feeds.dashboard)
        fragments = FragmentHandler(store: store, dashboard: feeds.dashboard)
        api = APIHandler(store: store)
        let control = FileDescriptor(owning: config.controlFD)
        try control.setNonBlocking()
        reporter = Reporter(socket: control)
        for s in Self.ignoredSignals { signal(s, SIG_IGN) }
        signals = try SignalFD(signals: Self.drainSignals)
        try epoll.add(signals.fd, events: [.readable], token: Self.signalToken)
        lastSeen = try store.maxMessageID()
        highWater = try store.newestAssignedID()
        lastDataVersion = try store.dataVersion()
        try epoll.add(control, events: [.readable], token: Self.controlToken)
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
        while running {
            let now = clock.nowMilliseconds
            var timeout: Int64 = 1000
            if feeds.hasSubscribers { timeout = min(timeout, Int64(nextPoll) - Int64(now)) }
            if feeds.channel.hasReplays || !httpBacklog.isEmpty || wroteSinceTick { timeout = 0 }
            if let drainWake = drainTimeout(now: now) { timeout = min(timeout, drainWake) }
            timeout = min(timeout, Int64(nextGauges) - Int64(now))
            try epoll.wait(timeoutMilliseconds: Int32(clamping: max(0, timeout))) { token, events in
                if token == Self.controlToken {
                    handleControl(events)
                } else if token == Self.signalToken {
                    handleSignals()
                } else if let c = connections[token] {
                    handle(c, events)
                }
            }
            let after = clock.nowMilliseconds
            if after >= nextPoll || wroteSinceTick {
                poll()
                nextPoll = after + UInt64(config.pollMilliseconds)
            }
            serviceReplays()
            serviceHTTPBacklog()
            if after >= nextSweep {
                sweep(now: after)
                nextSweep = after + 250
            }
            serviceDrain(now: after)
            sendGaugesIfDue(now: after)
            updateControlInterest()
            if reporter.peerGone { running = false }
            if draining && (connections.isEmpty || after >= drainDeadline) { running = false }
        }
        for c in Array(connections.values) { close(c, reason: draining ? "drained" : "worker_exit") }
        // Every close record frees a slot in the supervisor: wait (bounded) for the socket rather than lose them.
        reporter.flushBeforeExit(deadline: clock.nowMilliseconds + 3000, clock: clock)
    }

    // MARK: control socket

    private func handleControl(_ events: Epoll.Events) {
        if events.contains(.writable) {
            reporter.flush()
            updateControlInterest()
        }
        guard events.contains(.readable) || events.contains(.hangup) || events.contains(.error) else { return }
        while true {
            let received: IOResult<FDPassing.Received>
            do {
                received = try controlBuffer.withUnsafeMutableBytes { raw throws(SystemError) in
                    try FDPassing.receive(on: reporter.socket, into: raw)
                }
            } catch {
                running = false
                return
            }
            guard case .done(let r) = received else { return }
            if r.byteCount == 0 && r.descriptor == nil {
                // The supervisor is gone: a worker never outlives it.
                running = false
                return
            }
            do {
                let record = try RecordCodec.decode(controlBuffer[0..<r.byteCount])
                switch record {
                case .handoff(let id, let view, let client):
                    guard let fd = r.descriptor else {
                        // The kernel could not give us the descriptor (MSG_CTRUNC: our descriptor table is full).
                        // The client is lost with it; the supervisor learns at once, so its slots are freed.
                        reporter.log(.error, .handoffWithoutDescriptor, [
                            "conn": .int(Int64(bitPattern: id)), "truncated": .int(r.anomaly ? 1 : 0),
                        ])
                        reporter.send(.connectionClosed(
                            connectionID: id, view: view, fields: ["reason": .string("no_descriptor")]))
                        continue
                    }
                    adopt(fd, id: id, view: view, client: client)
                case .drain(let spread, let retry):
                    r.descriptor?.close()
                    beginDrain(spreadMilliseconds: spread, retryAfterMilliseconds: retry)
                default:
                    r.descriptor?.close()
                    reporter.log(.warning, .unexpectedRecord, ["kind": .string("\(record.kind)")])
                }
            } catch {
                r.descriptor?.close()
                reporter.log(.error, .badControlRecord, ["error": .string("\(error)")])
            }
        }
    }

    func updateControlInterest() {
        guard reporter.hasPending != controlWantsWrite else { return }
        controlWantsWrite = reporter.hasPending
        let events: Epoll.Events = controlWantsWrite ? [.readable, .writable] : [.readable]
        try? epoll.modify(reporter.socket, events: events, token: Self.controlToken)
    }

    private func adopt(_ fd: FileDescriptor, id: UInt64, view: ConnectionView, client: String) {
        let c = Connection(id: id, fd: fd, view: view, client: client, now: clock.nowMilliseconds)
        c.headParser = RequestHeadParser(limits: .init(maxBytes: config.maxHeadBytes))
        do {
            try fd.setNonBlocking()
            // Frames are written whole, one writev per tick: Nagle would only hold the last one back for an ACK.
            try? fd.setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            try epoll.add(fd, events: [.readable, .readHangup], token: id)
        } catch {
            fd.close()
            reporter.send(.connectionClosed(connectionID: id, view: view, fields: ["reason": .string("setup_failed")]))
            return
        }
        // A handoff sent just before the drain command is still served: its request gets an answer with
        // `Connection: close`, and a live upgrade is scheduled into the drain window like the others.
        connections[id] = c
    }

    // MARK: connection I/O

    private func handle(_ c: Connection, _ events: Epoll.Events) {
        if events.contains(.writable) { flush(c) }
        if c.closed { return }
        if events.contains(.readable) || events.contains(.readHangup) || events.contains(.hangup) {
            readAvailable(c)
        } else if events.contains(.error) {
            close(c, reason: "socket_error")
        }
    }

    private func readAvailable(_ c: Connection) {
        // Read at most a few buffers per wakeup so one busy client cannot starve the others.
        for _ in 0..<4 {
            if c.closed { return }
            let outcome: IOResult<Int>
            do {
                outcome = try readScratch.withUnsafeMutableBytes { raw throws(SystemError) in try c.fd.read(into: raw) }
            } catch {
                close(c, reason: "read_error")
                return
            }
            switch outcome {
            case .wouldBlock: return
            case .done(0):
                if c.mode == .webSocket && c.closeCode == nil { c.closeReason = "client_gone" }
                close(c, reason: c.mode == .webSocket ? c.closeReason : "client_closed")
                return
            case .done(let n):
                c.lastActivity = clock.nowMilliseconds
                readScratch.withUnsafeBytes { raw in
                    let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                    switch c.mode {
                    case .http: receiveHTTP(c, chunk)
                    case .webSocket: receiveWebSocket(c, chunk)
                    }
                }
                if n < readScratch.count { return }
            }
        }
    }

    /// Queues bytes and tries to write them now; registers for EPOLLOUT only while something is left.
    func send(_ c: Connection, _ bytes: [UInt8]) {
        guard !c.closed else { return }
        c.out.append(bytes)
        flush(c)
    }

    func flush(_ c: Connection) {
        guard !c.closed else { return }
        settle(c, c.out.flush(to: c.fd, scratch: iovScratch) { c.bytesDelivered += $0 })
    }

    /// Acts on the outcome of a write: keep EPOLLOUT only while bytes wait, finish a close, resume a replay.
    func settle(_ c: Connection, _ result: OutboundQueue.FlushResult) {
        switch result {
        case .drained:
            if c.releaseSnapshots() {
                flush(c)
                return
            }
            if c.writeRegistered || c.readPaused {
                c.writeRegistered = false
                // A connection waiting for its next turn stays unread until then (serviceHTTPBacklog resumes it).
                c.readPaused = c.awaitingTurn
                updateInterest(c)
                if c.mode == .http && !c.closeAfterFlush { processHTTP(c) }
            }
            if c.closed { return }
            if c.closeAfterFlush {
                close(c, reason: c.closeReason)
            } else {
                // A catch-up paused while the socket was full continues now.
                feeds.channel.resume(c)
            }
        case .blocked:
            if !c.writeRegistered {
                c.writeRegistered = true
                updateInterest(c)
            }
        case .failed:
            close(c, reason: "write_error")
        }
    }

    /// Tells epoll what the connection waits for: input unless reading is paused, output while bytes wait.
    func updateInterest(_ c: Connection) {
        var events: Epoll.Events = c.readPaused ? [] : [.readable, .readHangup]
        if c.writeRegistered { events.insert(.writable) }
        try? epoll.modify(c.fd, events: events, token: c.id)
    }

    func close(_ c: Connection, reason: String) {
        guard !c.closed else { return }
        c.closed = true
        connections[c.id] = nil
        unsubscribe(c)
        // Frames still queued were never delivered.
        let unsent = c.out.chunkCount + c.pendingSnapshotCount
        if c.mode == .webSocket { c.framesDropped += unsent }
        c.fd.close()
        let now = clock.nowMilliseconds
        var fields: [String: RecordValue] = [
            "reason": .string(reason),
            "client": .string(c.client),
            "duration_ms": .int(Int64(now - c.openedAt)),
            "bytes": .int(Int64(c.bytesDelivered)),
        ]
        if c.mode == .webSocket {
            fields["live_view"] = .string(c.liveView.rawValue)
            fields["frames"] = .int(Int64(max(0, c.framesQueued - unsent)))
            fields["dropped"] = .int(Int64(c.framesDropped))
            fields["coalesced"] = .int(Int64(c.framesCoalesced))
            fields["replayed"] = .int(Int64(c.replayed))
            fields["cursor"] = .int(c.cursor)
            if let code = c.closeCode { fields["close_code"] = .int(Int64(code.rawValue)) }
        } else {
            fields["requests"] = .int(Int64(c.requestsServed))
        }
        reporter.send(.connectionClosed(connectionID: c.id, view: c.handedView, fields: fields))
        updateControlInterest()
    }
}
