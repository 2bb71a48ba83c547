import Glibc
import LivefeedProtocol

/// WebSocket upgrades to live views, and the connection-side of the live protocol: receiving frames, closing
/// with a status, heartbeats.
extension WorkerServer {
    func refuseUpgrade(_ c: Connection, _ status: Int, _ code: String, _ message: String,
        headers: [(String, String)] = [])
    {
        reporter.log(.info, .connectionRefused, [
            "reason": .string(code), "status": .int(Int64(status)), "view": .string(c.handedView.rawValue),
            "client": .string(c.client), "conn": .int(Int64(bitPattern: c.id)),
        ])
        respond(c, status: status, contentType: "application/json", body: apiError(code, message),
            keepAlive: false, extraHeaders: headers)
    }

    func upgrade(_ c: Connection, _ head: HTTPRequestHead, to target: LiveRoute) {
        func refuse(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
            refuseUpgrade(c, status, code, message, headers: headers)
        }
        if target == .echo && !config.enableEcho {
            return refuse(404, "unknown_view", "no live view at \(head.path)")
        }
        guard head.method == "GET" else {
            return refuse(405, "method_not_allowed", "live views take GET", headers: [("Allow", "GET")])
        }
        // The supervisor counted this connection against the view it saw in the first request head; a live
        // upgrade anywhere else would dodge that count.
        guard c.requestsServed == 1, c.handedView == target.view else {
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
        guard let key = head.headers["Sec-WebSocket-Key"], WebSocketHandshake.isValidKey(key) else {
            return refuse(400, "bad_key", "missing or malformed Sec-WebSocket-Key")
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
        do {
            switch target {
            case .channel(let id):
                guard try store.channel(id) != nil else { return refuse(404, "not_found", "no such channel") }
            case .user(let id):
                guard try store.user(id) != nil else { return refuse(404, "not_found", "no such user") }
            default: break
            }
        } catch {
            return refuse(503, "unavailable", "the database is busy", headers: [("Retry-After", "1")])
        }

        var response = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".utf8)
        response += Array("Sec-WebSocket-Accept: \(WebSocketHandshake.acceptValue(forKey: key))\r\n\r\n".utf8)
        send(c, response)
        if target == .echo {
            // Autobahn's largest cases are single 16 MiB frames; echo exists only for conformance testing.
            c.webSocket = WebSocketConnectionState(limits: .init(maxFrameBytes: 32 << 20, maxMessageBytes: 32 << 20))
        } else {
            // Clients of live views only ever send control frames and small messages.
            c.webSocket = WebSocketConnectionState(limits: .init(maxFrameBytes: 4096, maxMessageBytes: 4096))
        }
        c.mode = .webSocket
        c.target = target
        c.format = format
        // HTTP state is no longer needed; give its memory back (idle live connections should cost little).
        c.headParser = RequestHeadParser()
        let early = c.readBuffer
        c.readBuffer = []
        reporter.send(.connectionOpened(connectionID: c.id, view: target.view))

        if let epoch = head.queryValue("epoch"), epoch != store.epoch {
            closeLive(c, code: .epochChanged, state: "epoch_changed",
                reason: "the database was replaced; reload", retryAfterMilliseconds: nil)
            return
        }
        if let after, (try? store.isAhead(after)) == true {
            closeLive(c, code: .cursorAhead, state: "cursor_ahead", reason: MessageStore.cursorAheadMessage,
                retryAfterMilliseconds: nil)
            return
        }
        subscribe(c, after: after)
        if !early.isEmpty { early.withUnsafeBytes { receiveWebSocket(c, $0) } }
    }

    func receiveWebSocket(_ c: Connection, _ chunk: UnsafeRawBufferPointer) {
        c.pingSentAt = 0  // a peer that sends anything is alive
        defer {
            // A peer that floods pings (or echo messages) without reading the answers stops being read until it
            // catches up, so the answers cannot grow without bound.
            if !c.closed && c.out.byteCount > Self.maxUnreadAnswerBytes && !c.readPaused {
                c.readPaused = true
                updateInterest(c)
            }
        }
        for action in c.webSocket.receive(chunk) {
            switch action {
            case .message(let opcode, let payload):
                if c.target == .echo { sendFrame(c, WebSocketFrameEncoder.frame(opcode, payload: payload)) }
            case .pong:
                break
            case .send(let bytes):
                send(c, bytes)
            case .closeConnection(let code, _):
                if c.closeCode == nil {
                    c.closeCode = code
                    switch code {
                    case .protocolError?, .invalidPayload?, .messageTooBig?: c.closeReason = "protocol_error"
                    default: c.closeReason = "client_closed"
                    }
                }
                unsubscribe(c)
                c.closeAfterFlush = true
                if c.out.isEmpty { close(c, reason: c.closeReason) }
                return
            }
        }
    }

    /// Sends `status` and a close frame, then waits (bounded by the sweep) for the client's close reply.
    func closeLive(
        _ c: Connection, code: WebSocketCloseCode, state: String, reason: String, retryAfterMilliseconds: Int?
    ) {
        guard !c.closed, c.mode == .webSocket, !c.webSocket.isClosing else { return }
        unsubscribe(c)
        c.closeReason = state
        c.closeCode = code
        c.closeDeadline = clock.nowMilliseconds + 2000
        c.dropPendingSnapshots()
        let status: [UInt8]
        switch c.format {
        case .json:
            status = Envelope.status(
                state: state, reason: reason, retryAfterMilliseconds: retryAfterMilliseconds, cursor: c.cursor,
                epoch: store.epoch, now: Timestamp.now())
        case .html:
            status = Array(
                Fragments.status(
                    state: state, reason: reason, retryAfterMilliseconds: retryAfterMilliseconds, cursor: c.cursor
                ).utf8)
        }
        c.out.append(WebSocketFrameEncoder.frame(.text, payload: status))
        c.framesQueued += 1
        if let frame = c.webSocket.initiateClose(code, reason: state) {
            c.out.append(frame)
            c.framesQueued += 1
        }
        flush(c)
    }

    func sendFrame(_ c: Connection, _ frame: [UInt8]) {
        c.framesQueued += 1
        send(c, frame)
    }

    /// Pings connections the peer has been silent on, and closes those that did not answer the last ping.
    func heartbeat(_ c: Connection, now: UInt64) {
        guard c.mode == .webSocket, !c.closed, !c.webSocket.isClosing else { return }
        if c.pingSentAt != 0 {
            if now - c.pingSentAt >= config.pingTimeoutMilliseconds {
                // The peer is gone or wedged: no close handshake is possible, so just close.
                c.closeReason = "ping_timeout"
                close(c, reason: "ping_timeout")
            }
        } else if now - c.lastActivity >= config.pingIntervalMilliseconds {
            c.pingSentAt = now
            send(c, WebSocketFrameEncoder.frame(.ping, payload: [UInt8]()))
        }
    }
}
