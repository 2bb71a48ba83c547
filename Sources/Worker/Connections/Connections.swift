import Glibc
import LivefeedProtocol

/// Every connection this worker was handed, and their I/O: reading into the owner of the connection's phase,
/// writing queued output, the epoll interest of each, and closing with the close record the supervisor needs.
final class Connections {
    /// What a connection is watched for (a constant: an option-set literal is built element by element).
    static let connectionEvents: Epoll.Events = [.readable, .readHangup]
    /// What the connection's phase owner does with the bytes read and with an output queue that drained.
    unowned var http: HTTPService!
    unowned var live: LiveService!

    private(set) var table: [UInt64: Connection] = [:]
    private unowned let loop: WorkerLoop
    private let reporter: Reporter
    private let config: WorkerConfig
    private var readScratch = [UInt8](repeating: 0, count: 64 * 1024)
    private let iovScratch = IOVecScratch()

    init(loop: WorkerLoop, reporter: Reporter, config: WorkerConfig) {
        self.loop = loop
        self.reporter = reporter
        self.config = config
    }

    var isEmpty: Bool { table.isEmpty }
    var count: Int { table.count }
    subscript(id: UInt64) -> Connection? { table[id] }
    /// A copy: closing connections while walking it is safe.
    var all: [Connection] { Array(table.values) }

    /// Takes over a descriptor handed over by the supervisor.
    /// Takes a connection handed over by the supervisor; nil (descriptor closed, close reported) when it cannot
    /// be watched. `openedAt`: when it was first handed over, for a live connection moving from another worker.
    @discardableResult
    func adopt(_ fd: FileDescriptor, id: UInt64, view: ConnectionView, client: String, openedAt: UInt64? = nil)
        -> Connection?
    {
        let c = Connection(
            id: id, fd: fd, view: view, client: client, exchange: HTTPExchange(maxHeadBytes: config.maxHeadBytes),
            now: openedAt ?? loop.clock.nowMilliseconds)
        do {
            // Frames are written whole, one writev per tick: Nagle would only hold the last one back for an ACK.
            // The supervisor hands sockets over with TCP_NODELAY already set (its listeners pass it on), and
            // non-blocking (checked here: one fcntl).
            try fd.setNonBlocking()
            try loop.epoll.add(fd, events: Self.connectionEvents, token: WorkerToken.connection(id).raw)
        } catch {
            fd.close()
            reporter.send(.connectionClosed(connectionID: id, view: view, fields: ["reason": .string("setup_failed")]))
            return nil
        }
        // A handoff sent just before the drain command is still served: its request gets an answer with
        // `Connection: close`, and a live upgrade is scheduled into the drain window like the others.
        table[id] = c
        return c
    }

    /// The connection went to another worker (its descriptor is on its way there): forgotten without a close
    /// record, the socket left open. The epoll registration must go explicitly: the descriptor in flight keeps
    /// the socket alive, so closing ours would not remove it.
    func forget(_ c: Connection) {
        guard !c.closed else { return }
        c.closed = true
        table[c.id] = nil
        if let session = c.session { live.unsubscribe(session) }
        loop.epoll.remove(c.fd)
        c.fd.close()
        c.phase = .closed
    }

    func handle(_ id: UInt64, _ events: Epoll.Events) {
        guard let c = table[id] else { return }
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
                close(c, reason: Self.reasonForEOF(c.phase))
                return
            case .done(let n):
                c.heardAt = loop.clock.nowMilliseconds
                readScratch.withUnsafeBytes { raw in
                    let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                    switch c.phase {
                    case .http(let h): http.receive(c, h, chunk)
                    case .live(let s): live.receive(s, chunk)
                    case .closing(let closing):
                        // A live client's close reply is read; anything after an HTTP answer that closes is not.
                        if let s = closing.session { live.receive(s, chunk) }
                    case .closed: break
                    }
                }
                if n < readScratch.count { return }
            }
        }
    }

    private static func reasonForEOF(_ phase: Connection.Phase) -> String {
        switch phase {
        case .http: "client_closed"
        case .live: "client_gone"
        case .closing(let closing): closing.session == nil ? "client_closed" : closing.reason
        case .closed: "client_closed"
        }
    }

    // MARK: output

    /// Queues bytes and tries to write them now; registers for EPOLLOUT only while something is left.
    func send(_ c: Connection, _ bytes: [UInt8]) {
        guard !c.closed else { return }
        c.out.append(bytes)
        flush(c)
    }

    /// Writes a live subscriber's `frames` after anything queued, straight from their shared buffers when nothing is.
    func send(_ c: Connection, _ frames: ArraySlice<SharedBytes>) {
        guard !c.closed else { return }
        let straight = c.out.isEmpty
        settleWrite(c, straight: straight, c.out.send(frames, to: c.fd, scratch: iovScratch) { c.bytesDelivered += $0 })
    }

    /// Writes one shared buffer to a live subscriber after anything queued (a tick's frames joined into one).
    func send(_ c: Connection, _ frame: SharedBytes) {
        guard !c.closed else { return }
        let straight = c.out.isEmpty
        // Counted in a local, not by a closure capturing `c`: that took a reference to the connection per delivery.
        var sent = 0
        let result = c.out.send(frame, to: c.fd, scratch: iovScratch) { sent += $0 }
        c.bytesDelivered += sent
        settleWrite(c, straight: straight, result)
    }

    /// A fan-out's common case, once per subscriber per tick: nothing was queued and everything went. Then there is
    /// nothing to settle: no snapshots wait (they wait only behind queued bytes), no EPOLLOUT or paused read to undo,
    /// and a live subscriber is neither closing nor replaying.
    private func settleWrite(_ c: Connection, straight: Bool, _ result: OutboundQueue.FlushResult) {
        if straight, case .drained = result, !c.writeRegistered, !c.readPaused { return }
        settle(c, result)
    }

    func flush(_ c: Connection) {
        guard !c.closed else { return }
        settle(c, c.out.flush(to: c.fd, scratch: iovScratch) { c.bytesDelivered += $0 })
    }

    /// Acts on the outcome of a write: keep EPOLLOUT only while bytes wait, finish a close, resume what waited for
    /// the socket.
    private func settle(_ c: Connection, _ result: OutboundQueue.FlushResult) {
        switch result {
        case .drained:
            // Only a live session takes snapshots; a closing one has sent or queued its Close.
            if case .live(let s) = c.phase, s.releaseSnapshots() {
                flush(c)
                return
            }
            if c.writeRegistered || c.readPaused {
                c.writeRegistered = false
                // A connection waiting for its next turn stays unread until then (the HTTP backlog resumes it).
                c.readPaused = c.http?.awaitingTurn ?? false
                updateInterest(c)
                if case .http(let h) = c.phase { http.process(c, h) }
            }
            if c.closed { return }
            if let closing = c.closing, closing.whenFlushed {
                close(c, reason: closing.reason)
            } else if case .live(let s) = c.phase {
                live.drained(s)
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

    /// Stops (or resumes) reading a connection; output interest is kept as it is.
    func pauseReading(_ c: Connection, _ paused: Bool) {
        guard c.readPaused != paused, !c.closed else { return }
        c.readPaused = paused
        updateInterest(c)
    }

    /// Tells epoll what the connection waits for: input unless reading is paused, output while bytes wait.
    private func updateInterest(_ c: Connection) {
        var events: Epoll.Events = c.readPaused ? [] : [.readable, .readHangup]
        if c.writeRegistered { events.insert(.writable) }
        try? loop.epoll.modify(c.fd, events: events, token: WorkerToken.connection(c.id).raw)
    }

    /// Moves a connection to closing: it closes once its output is written (`whenFlushed`), or by `deadline`.
    func beginClosing(_ c: Connection, _ closing: Connection.Closing) {
        guard !c.closed else { return }
        c.phase = .closing(closing)
        if closing.whenFlushed && c.out.isEmpty {
            close(c, reason: closing.reason)
        }
    }

    func close(_ c: Connection, reason: String) {
        guard !c.closed else { return }
        c.closed = true
        table[c.id] = nil
        let session = c.session
        if let session { live.unsubscribe(session) }
        // Frames still queued were never delivered.
        let unsent = c.out.chunkCount + (session?.pendingSnapshotCount ?? 0)
        c.fd.close()
        let now = loop.clock.nowMilliseconds
        var fields: [String: RecordValue] = [
            "reason": .string(reason),
            "client": .string(c.client),
            "duration_ms": .int(Int64(now - c.openedAt)),
            "bytes": .int(Int64(c.bytesDelivered)),
        ]
        if let s = session {
            s.framesDropped += unsent
            fields["live_view"] = .string(s.route.view.rawValue)
            fields["frames"] = .int(Int64(max(0, s.framesQueued - unsent)))
            fields["dropped"] = .int(Int64(s.framesDropped))
            fields["coalesced"] = .int(Int64(s.framesCoalesced))
            fields["replayed"] = .int(Int64(s.replayed))
            fields["cursor"] = .int(s.cursor)
            if let code = s.closeCode { fields["close_code"] = .int(Int64(code.rawValue)) }
        } else {
            fields["requests"] = .int(Int64(c.requestsServed))
        }
        reporter.send(.connectionClosed(connectionID: c.id, view: c.handedView, fields: fields))
        c.phase = .closed
    }
}
