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
        /// The channel it subscribes to, for `--channel-affinity`.
        var channel: Int64?
        /// Its first request posts messages: placed with the channel subscribers (`WorkerTable.pickForPublisher`).
        var publisher = false
    }

    /// How many admitted connections may wait for one worker's control socket.
    static let maxQueuedHandoffsPerWorker = 1024
    /// How many admitted connections may wait for a worker's full control socket because their channel is there.
    static let maxWaitingForChannel = 256
    /// How many moving live connections may wait for one (a reload moves every live connection at once).
    static let maxQueuedMovesPerWorker = 65536
    /// A reload's moves keep a channel together only up to this many per worker (or `--channel-affinity`, when
    /// lower), so a big channel's handover is shared by the new workers: one worker adopting all 10,000 of a
    /// channel while fanning out to those it already had took 1.8-2.8 s and held messages meanwhile as long,
    /// against 0.3-0.95 s for two workers with half each, 0.76-0.88 s with this bound (`livefeed-bench
    /// --subscribers 10000 --rate 100 --reload-at 3`). The channel is then split as it was before the bound went
    /// to 10,000; new subscribers join the fuller worker.
    static let maxMoveAffinity = 1000
    /// Handoffs per message: one sendmsg, one SCM_RIGHTS array, one wakeup of the worker for up to this many.
    /// A full message (records of at most ~110 bytes with an IPv6 client address, so under 3.6 KB) fits even the
    /// smallest send buffer Linux allows (SOCK_MIN_SNDBUF, about 4.5 KB), so it is never refused as too large.
    static let handoffsPerMessage = 32

    /// Sends the descriptor to a worker of the current generation, or queues it for one. The connection already
    /// holds its slots (`admit`); they stay held until the worker reports it closed or dies.
    func handOff(_ p: PendingConnection, view: ConnectionView, head: HTTPRequestHead) {
        guard takePending(p) else { return }
        dispatchHandoff(
            QueuedHandoff(
                connection: p, view: view, path: head.path, channel: affinityChannel(view, head.path),
                publisher: config.channelAffinity > 0 && head.method == "POST" && head.path == "/api/messages"),
            excluding: nil)
    }

    /// Queues `h` for a worker whose socket is not known to be full (the picked one first), to go out with the
    /// others of this loop turn (`flushHandoffs`); else behind the shortest queue still waiting for room.
    private func dispatchHandoff(_ h: QueuedHandoff, excluding broken: WorkerSlot?) {
        if upgrade != nil { return park(h) }  // the next process reads its head again
        if !stopping {
            func usable(_ slot: WorkerSlot) -> Bool {
                slot !== broken && slot.control != nil && !slot.killSent && !slot.handoffs.isFull
            }
            // Common case: the picked worker has room. A worker waiting for EPOLLOUT is passed over while another
            // is not, so its queue drains first in, first out; but a channel's subscriber waits in its queue, up
            // to `maxWaitingForChannel`: placed elsewhere during a burst of joins, a few subscribers would cost that
            // worker a tick and a fan-out of every message of the channel. Past that (a worker that stopped
            // reading its socket) they go elsewhere rather than wait for their head deadline.
            let picked = h.publisher
                ? workers.pickForPublisher() : workers.pick(channel: h.channel, bound: config.channelAffinity)
            if let first = picked, usable(first),
                !first.controlWritable || (h.channel != nil && first.handoffs.count < Self.maxWaitingForChannel)
            {
                return stage(h, on: first)
            }
            var shortest: WorkerSlot?
            for slot in workers.ready where usable(slot) {
                if !slot.controlWritable { return stage(h, on: slot) }
                if slot.handoffs.count < shortest?.handoffs.count ?? Int.max { shortest = slot }
            }
            if let shortest { return stage(h, on: shortest) }
        }
        refuseHandoff(h)
    }

    /// The channel a live path subscribes to, when `--channel-affinity` places its subscribers together. The door
    /// has classified the view already: only a channel's path is parsed again, for its id.
    func affinityChannel(_ view: ConnectionView, _ path: String) -> Int64? {
        guard config.channelAffinity > 0, view == .channel, case .channel(let id)? = LiveRoute(path: path) else {
            return nil
        }
        return id
    }

    private func stage(_ h: QueuedHandoff, on slot: WorkerSlot) {
        let id = h.connection.id
        guard slot.handoffs.append(id, h) else { return refuseHandoff(h) }
        queuedOn[id] = slot
        if slot.controlWritable { return }  // goes out when the socket has room again
        if !slot.flushDue {
            slot.flushDue = true
            flushDue.append(slot)
        }
        // A full message's worth goes at once: a turn accepting hundreds sends as it goes.
        if slot.handoffs.count >= Self.handoffsPerMessage { drainHandoffs(slot) }
    }

    /// Sends what this loop turn queued, one message per worker (or a few), at the end of the turn.
    func flushHandoffs() {
        guard !flushDue.isEmpty else { return }
        let due = flushDue
        flushDue.removeAll(keepingCapacity: true)
        for slot in due {
            slot.flushDue = false
            if !slot.controlWritable { drainHandoffs(slot) }
        }
    }

    private enum SendOutcome { case sent, full, failed }

    /// One message with the oldest `batch` of `slot`'s queue: their records back to back and their descriptors in
    /// the same order.
    private func trySend(_ batch: [QueuedHandoff], to slot: WorkerSlot) -> SendOutcome {
        guard let control = slot.control, !slot.killSent else { return .failed }
        var message: [UInt8] = []
        var descriptors: [FileDescriptor] = []
        descriptors.reserveCapacity(batch.count)
        for h in batch {
            let p = h.connection
            message += RecordCodec.encode(.handoff(connectionID: p.id, view: h.view, client: p.client))
            descriptors.append(p.fd)
        }
        let outcome: IOResult<Int>
        do {
            outcome = try FDPassing.send(on: control, message, descriptors: descriptors)
        } catch {
            return .failed
        }
        guard case .done = outcome else { return .full }
        metrics.handoffMessages += 1
        let now = clock.nowMilliseconds
        for h in batch {
            let p = h.connection
            slot.hold(p.id, channel: h.channel)
            handed[p.id] = Handed(
                view: h.view, worker: slot, client: p.client, clientKey: p.clientKey, handedAt: now, channel: h.channel)
            metrics.accepted[h.view, default: 0] += 1
            p.fd.close()
        }
        return .sent
    }

    /// EPOLLOUT on `slot`'s control socket while something waits for room in it; false if it could not be set.
    @discardableResult
    func wantWritable(_ slot: WorkerSlot, _ want: Bool) -> Bool {
        guard let control = slot.control, !slot.killSent else { return false }
        guard slot.controlWritable != want else { return true }
        do {
            try epoll.modify(control, events: want ? [.readable, .writable] : [.readable], token: slot.token.rawValue)
        } catch {
            return false
        }
        slot.controlWritable = want
        return true
    }

    /// The epoll event of a worker's control socket: records to read, room to send queued handoffs, or both.
    func controlReady(_ slot: WorkerSlot, _ events: Epoll.Events) {
        if events.contains(.writable) { drainHandoffs(slot) }
        if !events.isDisjoint(with: [.readable, .hangup, .error, .readHangup]) { readRecords(from: slot, events) }
    }

    /// Sends what waits for `slot`, oldest first and a message's worth at a time, until its socket is full (then
    /// asks for EPOLLOUT) or the queue is empty (then stops asking).
    func drainHandoffs(_ slot: WorkerSlot) {
        guard drainMoves(slot) else {
            wantWritable(slot, true)
            return
        }
        while !slot.handoffs.isEmpty {
            let batch = slot.handoffs.prefix(Self.handoffsPerMessage)
            switch trySend(batch.map(\.item), to: slot) {
            case .sent:
                for (id, _) in batch {
                    slot.handoffs.popFirst()
                    queuedOn[id] = nil
                }
            case .full:
                if !wantWritable(slot, true) { redistributeHandoffs(of: slot) }
                return
            case .failed:
                redistributeHandoffs(of: slot)
                return
            }
        }
        if slot.moves.isEmpty { wantWritable(slot, false) }
    }

    /// Moves what waits for a worker that can no longer take it (killed, exited, retiring, broken socket) to the
    /// other workers, or refuses it.
    func redistributeHandoffs(of slot: WorkerSlot) {
        redistributeMoves(of: slot)
        guard !slot.handoffs.isEmpty else { return }
        let waiting = slot.handoffs.removeAll()
        if slot.moves.isEmpty { wantWritable(slot, false) }
        for (id, h) in waiting {
            queuedOn[id] = nil
            dispatchHandoff(h, excluding: slot)
        }
    }

    /// A queued handoff whose head deadline passed: refused, its slots freed.
    func expireQueuedHandoff(_ id: UInt64) {
        guard let slot = queuedOn.removeValue(forKey: id), let h = slot.handoffs.remove(id) else { return }
        if slot.handoffs.isEmpty, slot.moves.isEmpty { wantWritable(slot, false) }
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

    /// Those of them waiting for room (EPOLLOUT), not merely going out at the end of this loop turn.
    var handoffsWaitingForRoom: Int {
        workers.all.reduce(0) { $0 + ($1.controlWritable ? $1.handoffs.count : 0) }
    }
}
