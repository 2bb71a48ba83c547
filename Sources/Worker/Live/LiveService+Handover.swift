import Glibc
import LivefeedProtocol

/// A reload with `--reload-mode handover`: a draining worker gives its live connections back to the supervisor
/// (`moveOut`), and a worker of the new generation continues them (`adopt`). The client sees no close, no status,
/// no gap and no duplicate: a connection moves only between frames in both directions (nothing queued for it,
/// nothing partial read from it), with the cursor of the last message it was sent, and the new worker subscribes
/// from that cursor (the fan-out skips what is at or below it, a replay fills what is above). Snapshot views get
/// their current value again, which is what a snapshot is.
extension LiveService {
    enum MoveOutcome {
        case moved
        /// Something is queued for it, a frame is partly read, or it is echo: try again later (or close it).
        case notNow
        /// The control socket is full: try again in a moment.
        case socketFull
    }

    func moveOut(_ s: LiveSession) -> MoveOutcome {
        let c = s.connection
        guard !c.closed, case .live = c.phase, s.route != .echo, c.out.isEmpty, !s.hasPendingSnapshots,
            s.webSocket.isAtFrameBoundary
        else { return .notNow }
        let now = clock.nowMilliseconds
        let state = LiveHandover(
            connectionID: c.id, view: c.handedView, path: s.route.path, format: s.format.rawValue, cursor: s.cursor,
            epoch: store.epoch, silentMilliseconds: Int64(now - min(now, c.heardAt)),
            pingAgeMilliseconds: s.pingSentAt.map { Int64(now - min(now, $0)) } ?? -1,
            ageMilliseconds: Int64(now - min(now, c.openedAt)), framesSent: Int64(s.framesQueued),
            bytesSent: Int64(c.bytesDelivered), framesDropped: Int64(s.framesDropped))
        // What this worker reported about the connection so far goes first.
        reporter.endTurn()
        let sent: IOResult<Int>
        do {
            sent = try FDPassing.send(on: reporter.socket, RecordCodec.encode(.liveMoved(state)), descriptor: c.fd)
        } catch {
            return .socketFull  // the supervisor is gone; the worker is about to exit
        }
        guard case .done = sent else { return .socketFull }
        connections.forget(c)
        return .moved
    }

    /// Continues a live connection another worker served, from the state it sent.
    func adopt(_ fd: FileDescriptor, _ h: LiveHandover) {
        let now = clock.nowMilliseconds
        guard h.isPlausible, let route = LiveRoute(path: h.path), route.view == h.view, route != .echo,
            let format = LiveFormat(rawValue: h.format)
        else {
            fd.close()
            reporter.log(.error, .badControlRecord, ["error": .string("adoptLive with an unusable state: \(h)")])
            reporter.send(.connectionClosed(
                connectionID: h.connectionID, view: h.view, fields: ["reason": .string("adopt_failed")]))
            return
        }
        // On a setup failure the descriptor is closed and the close reported there.
        guard let c = connections.adopt(
            fd, id: h.connectionID, view: h.view, client: h.client, openedAt: now - min(now, UInt64(h.ageMilliseconds)))
        else { return }
        c.requestsServed = 1
        c.heardAt = now - min(now, UInt64(h.silentMilliseconds))
        c.bytesDelivered = Int(h.bytesSent)
        let s = LiveSession(
            connection: c, route: route, format: format,
            webSocket: WebSocketConnectionState(
                limits: .init(maxFrameBytes: Self.liveMessageLimit, maxMessageBytes: Self.liveMessageLimit)))
        s.cursor = h.cursor
        s.framesQueued = Int(h.framesSent)
        s.framesDropped = Int(h.framesDropped)
        if h.pingAgeMilliseconds >= 0 { s.pingSentAt = now - min(now, UInt64(h.pingAgeMilliseconds)) }
        c.phase = .live(s)
        if h.epoch != store.epoch {
            return closeLive(s, code: .epochChanged, state: "epoch_changed",
                reason: "the database was replaced; reload", retryAfterMilliseconds: nil)
        }
        do {
            try store.read { subscribe(s, after: h.cursor) }
        } catch {
            closeLive(s, code: .internalError, state: "error", reason: "the database is unavailable",
                retryAfterMilliseconds: 1000)
        }
        if case .live = c.phase { _ = s.releaseSnapshots() }
        connections.flush(c)
    }
}
