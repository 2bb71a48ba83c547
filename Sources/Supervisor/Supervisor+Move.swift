import Glibc
import LivefeedProtocol

/// Live connections moving between workers on a reload (`--reload-mode handover`). A draining worker sends each
/// live connection back with its state (`liveMoved`, the descriptor beside the record); the supervisor gives it to a
/// worker of the current generation (`adoptLive`), waiting in that worker's queue like a handoff when its socket is
/// full. The connection keeps its id, its slots and its account: it is counted once throughout, by the worker that
/// holds it (while it waits here, by none: a worker that dies meanwhile does not take it along). Whatever cannot
/// move (no worker, a full queue, the supervisor stopping) is closed here with a WebSocket close 1012, so the client
/// resumes by its cursor exactly as a reload without handover would have told it to.
extension Supervisor {
    /// A moving connection waiting for room in a worker's control socket. The supervisor owns `fd` meanwhile.
    struct QueuedMove {
        var fd: FileDescriptor
        var state: LiveHandover
        /// The worker it came from, for the record.
        var from: Int
        /// The channel it subscribes to, for `--channel-affinity` (set when it is dispatched).
        var channel: Int64? = nil
    }

    /// A `liveMoved` record and its descriptor from `slot`. Untrusted: only a draining worker may move, only a
    /// connection it holds, counted against the view it names; anything else gets that worker killed.
    func liveMoved(_ state: LiveHandover, descriptor: FileDescriptor?, from slot: WorkerSlot) {
        guard let fd = descriptor else {
            workerMisbehaved(slot, "liveMoved without a descriptor")
            return
        }
        guard slot.state == .stopping, let h = handed[state.connectionID], h.worker === slot,
            slot.connections.contains(state.connectionID), h.view == state.view, state.isPlausible
        else {
            fd.close()
            workerMisbehaved(slot, "liveMoved for connection \(state.connectionID), which it may not move")
            return
        }
        // No longer the old worker's: its exit must not free the slots of a connection that lives on.
        slot.letGo(state.connectionID, channel: h.channel)
        var state = state
        state.client = h.client
        dispatchMove(QueuedMove(fd: fd, state: state, from: slot.index), excluding: nil)
    }

    /// Sends to a ready worker with nothing queued (the picked one first), else queues behind the shortest queue.
    func dispatchMove(_ m: QueuedMove, excluding broken: WorkerSlot?) {
        if upgrade != nil { return carry(m.fd, m.state) }  // held for the next process
        if !stopping {
            var m = m
            m.channel = handed[m.state.connectionID]?.channel
            let first = workers.pick(channel: m.channel, bound: min(config.channelAffinity, Self.maxMoveAffinity))
            // A channel's subscriber waits in its worker's queue rather than go elsewhere (`dispatchHandoff`).
            if m.channel != nil, let first, first !== broken, !first.moves.isFull {
                if first.moves.isEmpty {
                    switch trySendMove(m, to: first) {
                    case .sent: return
                    case .full: if enqueueMove(m, on: first) { return }
                    case .failed: break
                    }
                } else if enqueueMove(m, on: first) {
                    return
                }
            }
            var shortest: WorkerSlot?
            let candidates = (first.map { [$0] } ?? []) + workers.ready.filter { $0 !== first }
            for slot in candidates where slot !== broken {
                if slot.moves.isEmpty {
                    switch trySendMove(m, to: slot) {
                    case .sent: return
                    case .full: break
                    case .failed: continue
                    }
                }
                if !slot.moves.isFull && slot.moves.count < shortest?.moves.count ?? Int.max { shortest = slot }
            }
            if let shortest, enqueueMove(m, on: shortest) { return }
        }
        closeMove(m, reason: "move_failed")
    }

    enum MoveOutcome { case sent, full, failed }

    private func trySendMove(_ m: QueuedMove, to slot: WorkerSlot) -> MoveOutcome {
        guard let control = slot.control, !slot.killSent, slot.state == .running else { return .failed }
        let id = m.state.connectionID
        guard var h = handed[id] else {
            // Released meanwhile (the supervisor is stopping): nothing to move.
            m.fd.close()
            return .sent
        }
        let outcome: IOResult<Int>
        do {
            outcome = try FDPassing.send(on: control, RecordCodec.encode(.adoptLive(m.state)), descriptor: m.fd)
        } catch {
            return .failed
        }
        guard case .done = outcome else { return .full }
        m.fd.close()
        h.worker = slot
        handed[id] = h
        slot.hold(id, channel: h.channel)
        metrics.moved += 1
        journal.emit(
            .info, .connectionMoved,
            [
                "conn": .int(Int64(bitPattern: id)), "view": .string(h.view.rawValue), "client": .string(h.client),
                "from_worker": .int(Int64(m.from)), "worker": .int(Int64(slot.index)),
                "worker_pid": .int(Int64(slot.pid)), "generation": .int(Int64(slot.generation)),
                "cursor": .int(m.state.cursor),
            ])
        return .sent
    }

    private func enqueueMove(_ m: QueuedMove, on slot: WorkerSlot) -> Bool {
        guard wantWritable(slot, true) else { return false }  // false also for a worker without a live socket
        return slot.moves.append(m.state.connectionID, m)
    }

    /// Sends what waits for `slot`, oldest first. False when its socket filled up again.
    func drainMoves(_ slot: WorkerSlot) -> Bool {
        while let (_, m) = slot.moves.first() {
            switch trySendMove(m, to: slot) {
            case .sent:
                slot.moves.popFirst()
            case .full:
                return false
            case .failed:
                redistributeMoves(of: slot)
                return false
            }
        }
        return true
    }

    /// Gives what waits for a worker that can no longer take it to the others, or closes it.
    func redistributeMoves(of slot: WorkerSlot) {
        guard !slot.moves.isEmpty else { return }
        for (_, m) in slot.moves.removeAll() { dispatchMove(m, excluding: slot) }
    }

    /// Closes every waiting move (the supervisor is stopping).
    func closeAllQueuedMoves() {
        for slot in workers.all where !slot.moves.isEmpty {
            for (_, m) in slot.moves.removeAll() { closeMove(m, reason: "move_failed") }
        }
    }

    /// The fallback: a WebSocket close 1012 (service restart, reconnect) written directly (nothing was queued for
    /// the client, so it goes at a frame boundary), then TCP close; the slots are freed.
    func closeMove(_ m: QueuedMove, reason: String, counted: Bool = true) {
        let restart = WebSocketCloseCode.serviceRestart.rawValue
        let frame: [UInt8] = [0x88, 0x02, UInt8(restart >> 8), UInt8(restart & 0xFF)]
        _ = frame.withUnsafeBytes { send(m.fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        m.fd.close()
        metrics.moveFailures += 1
        journal.emit(
            .warning, .connectionMoveFailed,
            ["conn": .int(Int64(bitPattern: m.state.connectionID)), "from_worker": .int(Int64(m.from)),
             "client": .string(m.state.client), "reason": .string(reason)])
        if counted { release(m.state.connectionID, reason: reason) }
    }

    /// Connections moving between workers right now.
    var queuedMoveCount: Int { workers.all.reduce(0) { $0 + $1.moves.count } }
}
