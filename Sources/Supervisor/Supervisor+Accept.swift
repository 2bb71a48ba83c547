import Glibc
import LivefeedProtocol

/// The door: accept, count the client's address, peek at the request head without consuming it, check the
/// caps, then hand over or answer. Every pending connection leaves through `takePending` exactly once: in
/// `handOff` (its client slot moves with it), or through `releasePending` in `refuse`, `refuseForCap`, `answer`
/// and `dropPending` (its client slot is freed).
extension Supervisor {
    /// Edge-triggered: a peeked-but-incomplete head stays readable, so level-triggered would spin. (A constant: an
    /// option-set literal is built element by element, per connection.)
    static let pendingEvents: Epoll.Events = [.readable, .readHangup, .edgeTriggered]

    /// Starts accepting on every listener; see `doorOpen`.
    func openDoor() {
        guard !doorOpen, !stopping else { return }
        doorOpen = true
        // Level-triggered: what waits in the backlog wakes the next epoll_wait; not accepted here, in the middle of
        // a worker's records.
        _ = addListeners(now: clock.nowMilliseconds)
    }

    func acceptAll(from index: Int) {
        guard listeners.indices.contains(index), !door.acceptPaused else { return }
        let socket = listeners[index]
        // Bounded per wakeup so a flood of connections cannot starve workers' records and signals.
        for _ in 0..<256 {
            let accepted: (FileDescriptor, SocketAddress?)?
            do {
                accepted = try socket.listener.accept()
            } catch {
                switch error.errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    pauseAccepting(error)
                    return
                case ECONNABORTED, EPROTO, EPERM:
                    continue  // that one connection is gone; the next may be fine
                default:
                    journal.emit(.warning, .acceptFailed, ["error": .string("\(error)")])
                    return
                }
            }
            guard let (fd, peer) = accepted else {
                // The backlog is empty: accepting has caught up, so a descriptor shortage is over.
                endAcceptEpisode()
                return
            }
            arrive(fd, peer, socket)
        }
    }

    func arrive(_ fd: FileDescriptor, _ peer: SocketAddress?, _ socket: ListeningSocket) {
        let role = socket.role
        let now = clock.nowMilliseconds
        let id = door.newID()
        let key = ClientKey.of(peer)
        let over = caps.arrive(client: key) != nil
        // Workers write whole frames and never set TCP_NODELAY themselves: set here when the listener could not
        // pass it on.
        if !socket.noDelay { try? fd.setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1) }
        let peeksFromOffset = socket.peeksFromOffset
        let p = PendingConnection(
            id: id, fd: fd, client: peer, clientKey: key, acceptedAt: now, overClientCap: over, role: role,
            maxHeadBytes: config.maxHeadBytes, peeksFromOffset: peeksFromOffset)
        pending[id] = p
        // At the bound, the oldest heads still coming make room; connections waiting for a worker are never shed.
        let arrival = door.arrive(id, now: now, overClientCap: over, alsoHeld: queuedHandoffCount)
        switch arrival {
        case .wait(_, let shed), .refuseOverCap(let shed):
            for old in shed {
                if let o = pending[old] { refuse(o, status: 408, reason: "pending_shed") }
            }
        case .refuseFull: break
        }
        switch arrival {
        case .wait: advance(p)
        case .refuseOverCap: refuseForCap(p, .client, head: nil)
        case .refuseFull: refuse(p, status: 503, reason: "pending_cap")
        }
        // Most heads are whole by the time they are accepted: only one still coming is watched, which spares the
        // epoll_ctl pair per connection. Edge-triggered ADD reports bytes that came after the peek, so none is missed.
        guard pending[id] === p else { return }
        do {
            try epoll.add(fd, events: Self.pendingEvents, token: EpollToken.pending(id).rawValue)
            p.watched = true
        } catch {
            dropPending(p, reason: "epoll_add_failed")
        }
    }

    /// Peeks at what the client has sent so far and acts once the head is complete. `events` are the epoll events
    /// that woke us (none right after accept).
    func advance(_ p: PendingConnection, _ events: Epoll.Events = []) {
        // With a peek offset, room for the rest of the largest head (and one byte more, to see it is too large).
        let room = p.peeksFromOffset ? peekBuffer.count - p.parsedBytes : peekBuffer.count
        let outcome: IOResult<Int>
        do {
            outcome = try peekBuffer.withUnsafeMutableBytes { raw throws(SystemError) in
                try p.fd.peek(into: UnsafeMutableRawBufferPointer(rebasing: raw[..<room]))
            }
        } catch {
            dropPending(p, reason: "peek_failed")
            return
        }
        guard case .done(let n) = outcome else { return }
        if n == 0 {
            dropPending(p, reason: "closed_before_request")
            return
        }
        // Without a peek offset, a peek returns everything again (never less: nothing is read until the worker).
        let fresh = p.peeksFromOffset ? peekBuffer[0..<n] : n > p.parsedBytes ? peekBuffer[p.parsedBytes..<n] : []
        p.parsedBytes = p.peeksFromOffset ? p.parsedBytes + n : max(p.parsedBytes, n)
        do throws(HTTPHeadError) {
            switch fresh.isEmpty ? .needMore : try p.parser.feed(fresh) {
            case .needMore:
                if p.parsedBytes > config.maxHeadBytes {
                    refuse(p, status: 431, reason: "head_too_large")
                } else if !events.isDisjoint(with: [.readHangup, .hangup, .error]) {
                    // The peer stopped sending with half a head; a peek keeps returning those bytes rather than
                    // end of file, so without this the slot would stay taken until the head deadline.
                    dropPending(p, reason: "closed_before_request")
                }
            case .complete(let head, _):
                route(p, head)
            }
        } catch {
            refuse(p, status: error.status, reason: error.code, message: error.message)
        }
    }

    private func route(_ p: PendingConnection, _ head: HTTPRequestHead) {
        let route = ViewClassifier.classify(path: head.path)
        if p.overClientCap {
            if case .worker(let view) = route {
                refuseForCap(p, .client, head: head, view: view)
            } else {
                refuseForCap(p, .client, head: head)
            }
            return
        }
        switch route {
        case .supervisor(let endpoint):
            if p.role == .http && hasMetricsSocket && endpoint != .healthz {
                notOnThisSocket(p, head)
            } else {
                answer(p, endpoint, head)
            }
        case .worker(let view):
            if p.role == .metrics {
                notOnThisSocket(p, head)
            } else if let refusal = caps.admit(view: view) {
                refuseForCap(p, refusal, head: head, view: view)
            } else {
                handOff(p, view: view, head: head)
            }
        }
    }

    /// Refuses at the door with an HTTP error (bad head, too large, too slow).
    func refuse(_ p: PendingConnection, status: Int, reason: String, message: String? = nil) {
        guard releasePending(p) else { return }
        let body = refusalResponse(
            status: status, code: reason, message: message ?? HTTPResponse.reasonPhrase(status), path: nil,
            retryAfterSeconds: nil)
        write(p, body, status: status, reason: reason, view: nil)
    }

    /// Refuses for a cap: 503 (429 for the per-address cap) with Retry-After, JSON for /api and /live, a page
    /// otherwise (JSON too when the head never came).
    func refuseForCap(
        _ p: PendingConnection, _ refusal: ConnectionCaps.Refusal, head: HTTPRequestHead?, view: ConnectionView? = nil
    ) {
        guard releasePending(p) else { return }
        let message: String
        switch refusal {
        case .global: message = "the server is at its connection limit; retry later"
        case .view: message = "this live view is at its connection limit; retry later or poll"
        case .client: message = "too many connections from your address; retry later"
        }
        let response = refusalResponse(
            status: refusal.status, code: refusal.rawValue, message: message, path: head?.path,
            retryAfterSeconds: config.capRetryAfterSeconds)
        write(p, response, status: refusal.status, reason: refusal.rawValue, view: view)
    }

    /// Closes a connection that left before its head was complete (or when stopping), without an answer.
    func dropPending(_ p: PendingConnection, reason: String) {
        guard releasePending(p) else { return }
        metrics.abandoned[reason, default: 0] += 1
        p.fd.close()
    }

    /// Takes `p` out of the door's tables; false if it already left. The caller then owns `p.fd`.
    func takePending(_ p: PendingConnection) -> Bool {
        guard pending.removeValue(forKey: p.id) != nil else { return false }
        door.leave(p.id)
        // Registered with the file description, which outlives this descriptor in the worker it is handed to.
        if p.watched { epoll.remove(p.fd) }
        return true
    }

    /// `takePending` for a connection that will not be handed over: its client slot is freed.
    func releasePending(_ p: PendingConnection) -> Bool {
        guard takePending(p) else { return false }
        if !p.overClientCap && !caps.leave(client: p.clientKey) { accountingError("pending_release", p.id) }
        return true
    }

    func expirePending(now: UInt64) {
        let expired = door.expired(now: now)
        for id in expired.heads {
            if let p = pending[id] {
                refuse(p, status: 408, reason: "head_timeout")
            } else if queuedOn[id] != nil {
                expireQueuedHandoff(id)
            }
        }
        for id in expired.overCap {
            if let p = pending[id] { refuseForCap(p, .client, head: nil) }
        }
    }

    func accountingError(_ what: String, _ id: UInt64) {
        metrics.accountingErrors += 1
        journal.emit(.error, .slotAccountingError, ["where": .string(what), "conn": .int(Int64(id))])
    }

    /// 404 for what this socket does not serve: pages, API and live streams on the metrics socket; /metrics and
    /// /status on the http socket when a metrics socket keeps them private (/healthz stays, for load balancers).
    private func notOnThisSocket(_ p: PendingConnection, _ head: HTTPRequestHead) {
        guard releasePending(p) else { return }
        let message =
            p.role == .metrics
            ? "this socket serves only /metrics, /healthz and /status" : "not found on this socket"
        var r = DoorResponse(status: 404, contentType: "application/json", body: errorJSON("not_found", message))
        r.headOnly = head.method == "HEAD"
        write(p, r, status: 404, reason: "", view: nil)
    }

    // MARK: descriptor exhaustion

    /// Out of descriptors: take the listeners out of the epoll set for a moment instead of spinning on them, and
    /// say so once per episode.
    private func pauseAccepting(_ error: SystemError) {
        guard !listeners.isEmpty, !door.acceptPaused else { return }
        for l in listeners { epoll.remove(l.listener.fd) }
        guard door.pauseAccepting(now: clock.nowMilliseconds) else { return }
        metrics.acceptPauses += 1
        journal.emit(
            .warning, .acceptPaused,
            [
                "error": .string("\(error)"), "errno": .int(Int64(error.errno)),
                "pending": .int(Int64(pending.count)), "connections": .int(Int64(caps.total)),
                "pause_ms": .int(Int64(door.settings.acceptPauseMilliseconds)),
            ])
        recentWorkerEvents.add(time: Timestamp.now(), "accept paused", "\(error)")
    }

    func resumeAcceptingIfDue(now: UInt64) {
        guard door.pauseIsOver(now: now) else { return }
        if addListeners(now: now) {
            for i in listeners.indices { acceptAll(from: i) }
        }
    }

    /// Puts every listener in the epoll set; on failure none, and accepting is retried after a pause.
    func addListeners(now: UInt64) -> Bool {
        guard upgrade == nil else { return false }  // an upgrade keeps the door shut until the exec
        var added = 0
        do {
            for (i, l) in listeners.enumerated() {
                try epoll.add(l.listener.fd, events: [.readable], token: EpollToken.listener(i).rawValue)
                added += 1
            }
        } catch {
            for l in listeners.prefix(added) { epoll.remove(l.listener.fd) }
            door.retryAcceptLater(now: now)
            return false
        }
        door.acceptResumed()
        return true
    }

    private func endAcceptEpisode() {
        guard let episode = door.backlogDrained(now: clock.nowMilliseconds) else { return }
        journal.emit(
            .info, .acceptResumed,
            [
                "paused_ms": .int(Int64(episode.milliseconds)), "pauses": .int(Int64(episode.pauses)),
            ])
    }
}
