import Glibc
import LivefeedProtocol

/// Handing admitted connections to workers. A control socket holds what its send buffer allows (a few hundred
/// handoffs by default), so a burst of connections can fill it faster than a busy worker reads: a
/// connection that finds every socket full waits in a worker's bounded `HandoffQueue`, sent oldest first when
/// that socket becomes writable (EPOLLOUT), still under its head deadline. It is refused 503 `no_worker` only
/// when no worker runs, every queue is full, or its deadline passes while it waits.
extension Supervisor {
    /// An admitted connection waiting in a worker's handoff queue. It holds its slots (`admit`).
    struct QueuedHandoff {
        var connection: PendingConnection
        var view: ConnectionView
        var path: String
    }

    /// How many admitted connections may wait for one worker's control socket.
    static let maxQueuedHandoffsPerWorker = 1024
    /// How many moving live connections may wait for one (a reload moves every live connection at once).
    static let maxQueuedMovesPerWorker = 65536

    /// Sends the descriptor to a worker of the current generation, or queues it for one. The connection already
    /// holds its slots (`admit`); they stay held until the worker reports it closed or dies.
    func handOff(_ p: PendingConnection, view: ConnectionView, head: HTTPRequestHead) {
        guard takePending(p) else { return }
        dispatchHandoff(QueuedHandoff(connection: p, view: view, path: head.path), excluding: nil)
    }

    /// Sends now to a worker with nothing queued (the picked one first), else queues behind the shortest queue.
    private func dispatchHandoff(_ h: QueuedHandoff, excluding broken: WorkerSlot?) {
        if upgrade != nil { return park(h) }  // the next process reads its head again
        if !stopping {
            // Common case: the picked worker has nothing queued and room in its socket. No allocation.
            let first = workers.pick()
            var firstFailed = false
            if let first, first !== broken, first.handoffs.isEmpty {
                switch trySend(h, to: first) {
                case .sent: return
                case .full: break
                case .failed: firstFailed = true
                }
            }
            // Then any other worker with nothing queued; else the shortest queue with room. A worker with a queue
            // is not sent to directly, so its queue stays first in, first out.
            var shortest: WorkerSlot?
            for slot in workers.ready where slot !== broken && !(slot === first && firstFailed) {
                if slot !== first && slot.handoffs.isEmpty {
                    switch trySend(h, to: slot) {
                    case .sent: return
                    case .full: break
                    case .failed: continue
                    }
                }
                if !slot.handoffs.isFull && slot.handoffs.count < shortest?.handoffs.count ?? Int.max {
                    shortest = slot
                }
            }
            if let shortest, enqueue(h, on: shortest) { return }
        }
        refuseHandoff(h)
    }

    private enum SendOutcome { case sent, full, failed }

    private func trySend(_ h: QueuedHandoff, to slot: WorkerSlot) -> SendOutcome {
        guard let control = slot.control, !slot.killSent else { return .failed }
        let p = h.connection
        let record = RecordCodec.encode(.handoff(connectionID: p.id, view: h.view, client: p.client))
        let outcome: IOResult<Int>
        do {
            outcome = try FDPassing.send(on: control, record, descriptor: p.fd)
        } catch {
            return .failed
        }
        guard case .done = outcome else { return .full }
        slot.connections.insert(p.id)
        handed[p.id] = Handed(
            view: h.view, worker: slot, client: p.client, clientKey: p.clientKey, handedAt: clock.nowMilliseconds)
        metrics.accepted[h.view, default: 0] += 1
        p.fd.close()
        return .sent
    }

    /// Queues `h` on `slot` and asks for EPOLLOUT on its control socket when the queue was empty.
    private func enqueue(_ h: QueuedHandoff, on slot: WorkerSlot) -> Bool {
        guard let control = slot.control, !slot.killSent else { return false }
        if slot.handoffs.isEmpty && slot.moves.isEmpty {
            do {
                try epoll.modify(control, events: [.readable, .writable], token: slot.token.rawValue)
            } catch {
                return false
            }
        }
        guard slot.handoffs.append(h.connection.id, h) else { return false }
        queuedOn[h.connection.id] = slot
        return true
    }

    /// The epoll event of a worker's control socket: records to read, room to send queued handoffs, or both.
    func controlReady(_ slot: WorkerSlot, _ events: Epoll.Events) {
        if events.contains(.writable) { drainHandoffs(slot) }
        if !events.isDisjoint(with: [.readable, .hangup, .error, .readHangup]) { readRecords(from: slot, events) }
    }

    /// Sends what waits for `slot`, oldest first, until its socket is full again; stops asking for EPOLLOUT once
    /// the queue is empty.
    func drainHandoffs(_ slot: WorkerSlot) {
        guard drainMoves(slot) else { return }
        while let (id, h) = slot.handoffs.first() {
            switch trySend(h, to: slot) {
            case .sent:
                slot.handoffs.popFirst()
                queuedOn[id] = nil
            case .full:
                return
            case .failed:
                redistributeHandoffs(of: slot)
                return
            }
        }
        if let control = slot.control, !slot.killSent, slot.moves.isEmpty {
            try? epoll.modify(control, events: [.readable], token: slot.token.rawValue)
        }
    }

    /// Moves what waits for a worker that can no longer take it (killed, exited, retiring, broken socket) to the
    /// other workers, or refuses it.
    func redistributeHandoffs(of slot: WorkerSlot) {
        redistributeMoves(of: slot)
        guard !slot.handoffs.isEmpty else { return }
        let waiting = slot.handoffs.removeAll()
        if let control = slot.control, !slot.killSent {
            try? epoll.modify(control, events: [.readable], token: slot.token.rawValue)
        }
        for (id, h) in waiting {
            queuedOn[id] = nil
            dispatchHandoff(h, excluding: slot)
        }
    }

    /// A queued handoff whose head deadline passed: refused, its slots freed.
    func expireQueuedHandoff(_ id: UInt64) {
        guard let slot = queuedOn.removeValue(forKey: id), let h = slot.handoffs.remove(id) else { return }
        if slot.handoffs.isEmpty, slot.moves.isEmpty, let control = slot.control, !slot.killSent {
            try? epoll.modify(control, events: [.readable], token: slot.token.rawValue)
        }
        refuseHandoff(h)
    }

    /// Refuses every queued handoff (the supervisor is stopping).
    func refuseAllQueuedHandoffs() {
        closeAllQueuedMoves()
        for slot in workers.all where !slot.handoffs.isEmpty {
            for (id, h) in slot.handoffs.removeAll() {
                queuedOn[id] = nil
                refuseHandoff(h)
            }
        }
    }

    func refuseHandoff(_ h: QueuedHandoff) {
        let p = h.connection
        if !caps.release(view: h.view, client: p.clientKey) { accountingError("handoff_failed", p.id) }
        let refusal = refusalResponse(
            status: 503, code: "no_worker", message: "no worker can take this connection now; retry shortly",
            path: h.path, retryAfterSeconds: 1)
        write(p, refusal, status: 503, reason: "no_worker", view: h.view)
    }

    /// Connections admitted and waiting for a worker's control socket.
    var queuedHandoffCount: Int { queuedOn.count }
}
