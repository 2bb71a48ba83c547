import Glibc
import LivefeedProtocol

/// Live connections: the upgrade from HTTP, the WebSocket side of the live protocol (frames in, close with a
/// status, pings), and the subscriptions to the feeds. The feeds write through it (`LiveOutlet`).
final class LiveService: LiveOutlet {
    /// How long a close handshake may take before the connection is closed anyway.
    static let closeGraceMilliseconds: UInt64 = 2000
    /// The largest frame or message a client of a live view may send (they send control frames and small
    /// messages only).
    static let liveMessageLimit = 4096

    let connections: Connections
    let reporter: Reporter
    let clock: MonotonicClock
    private let config: WorkerConfig
    let store: MessageStore
    private let access: AccessPolicy
    let feeds: LiveFeeds
    unowned var http: HTTPService!
    /// The highest message id fanned out so far: where a new subscriber starts.
    var lastSeen: () -> Int64 = { 0 }
    /// Whether `lastSeen` was the database's newest message a moment ago (`Ticker.lastSeenIsCurrent`).
    var lastSeenIsCurrent: () -> Bool = { false }

    init(
        connections: Connections, reporter: Reporter, clock: MonotonicClock, config: WorkerConfig,
        store: MessageStore, access: AccessPolicy, feeds: LiveFeeds
    ) {
        self.connections = connections
        self.reporter = reporter
        self.clock = clock
        self.config = config
        self.store = store
        self.access = access
        self.feeds = feeds
    }

    func upgrade(_ c: Connection, _ head: HTTPRequestHead, to target: LiveRoute) {
        func refuse(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
            http.refuseUpgrade(c, status, code, message, headers: headers, headOnly: head.method == "HEAD")
        }
        if target == .echo && !config.enableEcho {
            return refuse(404, "unknown_view", "no live view at \(head.path)")
        }
        guard head.method == "GET" else {
            return refuse(405, "method_not_allowed", "live views take GET", headers: [("Allow", "GET")])
        }
        // The supervisor counted this connection against the view it saw in the first request head; a live
        // upgrade anywhere else would dodge that count.
        guard c.requestsServed == 1, c.handedView == target.view, let exchange = c.http else {
            return refuse(400, "upgrade_not_first", "a live upgrade must be the first request on its connection")
        }
        guard access.originAllowed(head) else {
            return refuse(403, "origin_not_allowed", "this Origin may not open live connections")
        }
        guard access.tokenAccepted(head) else {
            return refuse(401, "unauthorized", "a valid access token is required",
                headers: [("WWW-Authenticate", "Bearer realm=\"livefeed\"")])
        }
        guard head.headers.containsToken("websocket", in: "Upgrade"),
            head.headers.containsToken("upgrade", in: "Connection")
        else {
            return refuse(426, "upgrade_required", "this endpoint speaks WebSocket",
                headers: [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")])
        }
        guard head.headers["Sec-WebSocket-Version"] == "13" else {
            return refuse(426, "unsupported_version", "only WebSocket version 13 is supported",
                headers: [("Sec-WebSocket-Version", "13")])
        }
        // RFC 6455 §4.1 and §11.3.1: an upgrade is HTTP/1.1 or later, with exactly one key (with two, which one the
        // client checks our answer against is anyone's guess).
        guard head.versionMinor >= 1 else {
            return refuse(400, "bad_version", "a WebSocket upgrade needs HTTP/1.1")
        }
        guard head.headers.values("Sec-WebSocket-Key").count == 1, let key = head.headers["Sec-WebSocket-Key"],
            WebSocketHandshake.isValidKey(key)
        else {
            return refuse(400, "bad_key", "missing, repeated or malformed Sec-WebSocket-Key")
        }
        var after: Int64?
        switch Query.afterID(head) {
        case .success(let v): after = v
        case .failure(let e): return refuse(400, "bad_query", e.message)
        }
        let format: LiveFormat
        switch head.queryValue("format") {
        case nil, "json": format = .json
        case "html": format = .html
        default: return refuse(400, "bad_query", "format must be json or html")
        }
        // One read transaction for every database look of the upgrade: the target exists, the cursor is not ahead,
        // and the subscription's first frames.
        do {
            try store.read { try upgrade(c, exchange, head, target, key: key, after: after, format: format, refuse) }
        } catch {
            // Before the 101 (afterwards the connection is live and any failure is a close with a status).
            if case .http = c.phase { refuse(503, "unavailable", "the database is busy", headers: [("Retry-After", "1")]) }
        }
    }

    private func upgrade(
        _ c: Connection, _ exchange: HTTPExchange, _ head: HTTPRequestHead, _ target: LiveRoute, key: String,
        after: Int64?, format: LiveFormat, _ refuse: (Int, String, String, [(String, String)]) -> Void
    ) throws {
        // On a follower a channel or user the replica lacks may be one the primary just created (the page that
        // asks was served by another host): retry soon rather than "no such".
        func missing(_ what: String) {
            if store.readOnly {
                refuse(503, "replica_behind", "this follower's replica has no \(what) yet; retry", [("Retry-After", "1")])
            } else {
                refuse(404, "not_found", "no such \(what)", [])
            }
        }
        switch target {
        case .channel(let id):
            guard try feeds.channel.channel(id, store, current: lastSeenIsCurrent()) != nil else { return missing("channel") }
        case .user(let id):
            guard try store.user(id) != nil else { return missing("user") }
        default: break
        }
        var response = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".utf8)
        response += Array("Sec-WebSocket-Accept: \(WebSocketHandshake.acceptValue(forKey: key))\r\n\r\n".utf8)
        // Written together with the subscription's first frames: one writev for the whole handshake.
        c.out.append(response)
        // Autobahn's largest cases are single 16 MiB frames; echo exists only for conformance testing. Clients of
        // live views only ever send control frames and small messages.
        let limit = target == .echo ? 32 << 20 : Self.liveMessageLimit
        let s = LiveSession(
            connection: c, route: target, format: format,
            webSocket: WebSocketConnectionState(limits: .init(maxFrameBytes: limit, maxMessageBytes: limit)))
        // The HTTP side is dropped with its buffers (idle live connections should cost little); bytes the client
        // sent after its upgrade request are WebSocket frames.
        c.phase = .live(s)
        let early = exchange.readBuffer
        reporter.send(.connectionOpened(connectionID: c.id, view: target.view))

        if let epoch = head.queryValue("epoch"), epoch != store.epoch {
            return closeLive(s, code: .epochChanged, state: "epoch_changed",
                reason: "the database was replaced; reload", retryAfterMilliseconds: nil)
        }
        // A cursor at or below what this worker has fanned out is not ahead (ids only grow; a database that went
        // back in time gets a new epoch at the tick that notices): only a larger one needs the database.
        if let after, after > lastSeen(), (try? store.isAhead(after)) == true {
            return closeLive(s, code: .cursorAhead, state: "cursor_ahead", reason: MessageStore.cursorAheadMessage,
                retryAfterMilliseconds: nil)
        }
        subscribe(s, after: after)
        if !early.isEmpty { early.withUnsafeBytes { receive(s, $0) } }
        // The first snapshots waited behind the 101 as if the socket were busy; they go in the same write.
        if case .live = c.phase { _ = s.releaseSnapshots() }
        connections.flush(c)
    }

    // MARK: subscriptions

    func subscribe(_ s: LiveSession, after: Int64?) {
        guard let feed = feeds.feed(for: s.route) else { return }
        do {
            let seen = lastSeen()
            let context = FeedContext(store: store, from: seen, through: seen, outlet: self)
            context.throughIsCurrent = lastSeenIsCurrent()
            try feed.subscribe(s, after: after, context)
        } catch {
            reporter.log(.warning, .subscribeFailed, ["error": .string("\(error)")])
            return closeLive(s, code: .internalError, state: "error", reason: "the database is unavailable",
                retryAfterMilliseconds: 1000)
        }
    }

    func unsubscribe(_ s: LiveSession) {
        feeds.feed(for: s.route)?.unsubscribe(s)
    }

    /// The session's output drained: a catch-up paused while the socket was full continues.
    func drained(_ s: LiveSession) { feeds.channel.resume(s) }

    // MARK: LiveOutlet

    func deliver(_ s: LiveSession, _ frames: ArraySlice<SharedBytes>) { connections.send(s.connection, frames) }

    func deliver(_ s: LiveSession, _ frame: SharedBytes) { connections.send(s.connection, frame) }

    func flush(_ s: LiveSession) { connections.flush(s.connection) }

    /// Sends `status` and a close frame, then waits (bounded) for the client's close reply.
    func closeLive(
        _ s: LiveSession, code: WebSocketCloseCode, state: String, reason: String, retryAfterMilliseconds: Int?
    ) {
        let c = s.connection
        guard !c.closed, case .live = c.phase else { return }
        unsubscribe(s)
        s.closeCode = code
        s.dropPendingSnapshots()
        connections.beginClosing(c, Connection.Closing(
            reason: state, deadline: clock.nowMilliseconds + Self.closeGraceMilliseconds, session: s, whenFlushed: false))
        let status: [UInt8]
        switch s.format {
        case .json:
            status = Envelope.status(
                state: state, reason: reason, retryAfterMilliseconds: retryAfterMilliseconds, cursor: s.cursor,
                epoch: store.epoch, now: Timestamp.now())
        case .html:
            status = Array(
                Fragments.status(
                    state: state, reason: reason, retryAfterMilliseconds: retryAfterMilliseconds, cursor: s.cursor
                ).utf8)
        }
        c.out.append(WebSocketFrameEncoder.frame(.text, payload: status))
        s.framesQueued += 1
        if let frame = s.webSocket.initiateClose(code, reason: state) {
            c.out.append(frame)
            s.framesQueued += 1
        }
        connections.flush(c)
    }

    // MARK: frames from the client

    func receive(_ s: LiveSession, _ chunk: UnsafeRawBufferPointer) {
        let c = s.connection
        s.pingSentAt = nil  // a peer that sends anything is alive
        defer {
            // A peer that floods pings (or echo messages) without reading the answers stops being read until it
            // catches up, so the answers cannot grow without bound.
            if !c.closed && c.out.byteCount > HTTPService.maxUnreadAnswerBytes { connections.pauseReading(c, true) }
        }
        for action in s.webSocket.receive(chunk) {
            switch action {
            case .message(let opcode, let payload):
                if s.route == .echo {
                    s.framesQueued += 1
                    connections.send(c, WebSocketFrameEncoder.frame(opcode, payload: payload))
                }
            case .pong:
                break
            case .send(let bytes):
                // With our Close among these bytes (answering the client's, or failing the connection) no data frame
                // may follow (RFC 6455 §5.5.1): the snapshots still waiting, as the first ones wait behind the 101,
                // are dropped rather than released once the Close is written.
                if s.webSocket.isClosing { s.dropPendingSnapshots() }
                connections.send(c, bytes)
            case .closeConnection(let code, _):
                unsubscribe(s)
                // The reply to our close, or the client's own close (answered by `.send` just before): either way
                // the connection ends once what is queued is written, within the close grace.
                var closing = c.closing ?? Connection.Closing(
                    reason: "client_closed", deadline: clock.nowMilliseconds + Self.closeGraceMilliseconds,
                    session: s, whenFlushed: true)
                if s.closeCode == nil {
                    s.closeCode = code
                    switch code {
                    case .protocolError?, .invalidPayload?, .messageTooBig?: closing.reason = "protocol_error"
                    default: closing.reason = "client_closed"
                    }
                }
                closing.whenFlushed = true
                connections.beginClosing(c, closing)
                return
            }
        }
    }

    /// Pings a live client that has been silent for the ping interval (its `ConnectionState` deadline).
    func ping(_ s: LiveSession) {
        s.pingSentAt = clock.nowMilliseconds
        connections.send(s.connection, WebSocketFrameEncoder.frame(.ping, payload: [UInt8]()))
    }

    /// Closes every live client: the database they were served from is gone (see `Ticker.checkIdentity`).
    func closeAll(code: WebSocketCloseCode, state: String, reason: String) {
        for c in connections.all {
            guard case .live(let s) = c.phase, s.route != .echo else { continue }
            closeLive(s, code: code, state: state, reason: reason, retryAfterMilliseconds: nil)
        }
    }
}
