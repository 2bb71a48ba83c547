import Glibc
import LivefeedProtocol

/// WebSocket upgrades, the live channel stream, catch-up from the database, and fan-out.
extension WorkerServer {
    func upgrade(_ c: Connection, _ head: HTTPRequestHead, segments: [String]) {
        func refuse(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
            respond(c, status: status, contentType: "application/json", body: apiError(code, message),
                keepAlive: false, extraHeaders: headers)
        }
        let view: ConnectionView
        var channel: Int64 = 0
        switch segments.count {
        case 1 where segments[0] == "echo" && config.enableEcho:
            view = .echo
        case 2 where segments[0] == "channels":
            guard let id = parseID(segments[1]) else { return refuse(404, "not_found", "no such channel") }
            view = .channel
            channel = id
        default:
            return refuse(404, "unknown_view", "no live view at \(head.path)")
        }
        guard head.method == "GET" else { return refuse(405, "method_not_allowed", "live views take GET") }
        // The supervisor counted this connection against the view it saw in the first request head; a live
        // upgrade anywhere else would dodge that count.
        guard c.requestsServed == 1, c.handedView == view else {
            return refuse(400, "upgrade_not_first", "a live upgrade must be the first request on its connection")
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
        switch afterID(head) {
        case .success(let v): after = v
        case .failure(let e): return refuse(400, "bad_query", e.message)
        }
        if view == .channel {
            do {
                guard try store.channel(channel) != nil else { return refuse(404, "not_found", "no such channel") }
            } catch {
                return refuse(503, "unavailable", "the database is busy", headers: [("Retry-After", "1")])
            }
        }

        var response = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".utf8)
        response += Array("Sec-WebSocket-Accept: \(WebSocketHandshake.acceptValue(forKey: key))\r\n\r\n".utf8)
        send(c, response)
        if view == .echo {
            // Autobahn's largest cases are single 16 MiB frames; echo exists only for conformance testing.
            c.webSocket = WebSocketConnectionState(limits: .init(maxFrameBytes: 32 << 20, maxMessageBytes: 32 << 20))
        } else {
            // Clients of live views only ever send control frames.
            c.webSocket = WebSocketConnectionState(limits: .init(maxFrameBytes: 4096, maxMessageBytes: 4096))
        }
        c.mode = .webSocket
        c.liveView = view
        reporter.send(.connectionOpened(connectionID: c.id, view: view))

        if let epoch = head.queryValue("epoch"), epoch != store.epoch {
            closeLive(c, code: .epochChanged, reason: "epoch_changed", retryAfterMilliseconds: nil)
            return
        }
        if view == .channel {
            c.channelID = channel
            channelSubscribers[channel, default: [:]][c.id] = c
            if let after, after < lastSeen {
                c.cursor = after
                c.feed = .replaying
                replaying[c.id] = c
            } else {
                c.cursor = after ?? lastSeen
                c.feed = .live
            }
        }
        if !c.readBuffer.isEmpty {
            let early = c.readBuffer
            c.readBuffer = []
            early.withUnsafeBytes { receiveWebSocket(c, $0) }
        }
    }

    func receiveWebSocket(_ c: Connection, _ chunk: UnsafeRawBufferPointer) {
        for action in c.webSocket.receive(chunk) {
            switch action {
            case .message(let opcode, let payload):
                if c.liveView == .echo { sendFrame(c, WebSocketFrameEncoder.frame(opcode, payload: payload)) }
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
                c.feed = .none
                c.closeAfterFlush = true
                if c.out.isEmpty { close(c, reason: c.closeReason) }
                return
            }
        }
    }

    /// Sends `status` and a close frame, then waits (bounded by the sweep) for the client's close reply.
    func closeLive(_ c: Connection, code: WebSocketCloseCode, reason: String, retryAfterMilliseconds: Int?) {
        guard !c.closed, c.mode == .webSocket, !c.webSocket.isClosing else { return }
        c.feed = .none
        replaying[c.id] = nil
        c.closeReason = reason
        c.closeCode = code
        c.closeDeadline = clock.nowMilliseconds + 2000
        let status = Envelope.status(state: reason, reason: reason, retryAfterMilliseconds: retryAfterMilliseconds)
        c.out.append(WebSocketFrameEncoder.frame(.text, payload: status))
        if let frame = c.webSocket.initiateClose(code, reason: reason) { c.out.append(frame) }
        flush(c)
    }

    func sendFrame(_ c: Connection, _ frame: [UInt8]) {
        c.framesQueued += 1
        send(c, frame)
    }

    /// Looks for rows committed by anyone since the last look and fans them out: one query per tick for all
    /// subscribers, each envelope encoded once and the same bytes queued for every subscriber.
    func poll() {
        do {
            let version = try store.dataVersion()
            guard version != lastDataVersion || wroteSinceTick else { return }
            lastDataVersion = version
            wroteSinceTick = false
            if channelSubscribers.isEmpty {
                lastSeen = max(lastSeen, try store.maxMessageID())
                return
            }
            let batch = 1000
            var touched: [Connection] = []
            var now = ""
            while true {
                let rows = try store.messages(after: lastSeen, limit: batch)
                if now.isEmpty && !rows.isEmpty { now = Timestamp.now() }
                for m in rows {
                    lastSeen = m.id
                    guard let subscribers = channelSubscribers[m.channelID] else { continue }
                    let frame = WebSocketFrameEncoder.frame(.text, payload: Envelope.message(m, epoch: store.epoch, now: now))
                    for c in subscribers.values where c.feed == .live && m.id > c.cursor {
                        if enqueueMessage(c, frame, id: m.id) && !c.touched {
                            c.touched = true
                            touched.append(c)
                        }
                    }
                }
                if rows.count < batch { break }
            }
            for c in touched {
                c.touched = false
                flush(c)
            }
        } catch {
            reporter.log(.warning, "poll_failed", ["error": .string("\(error)")])
        }
    }

    /// Queues one message frame within the connection's bound; past it the client is a slow consumer.
    private func enqueueMessage(_ c: Connection, _ frame: [UInt8], id: Int64) -> Bool {
        if c.out.byteCount + frame.count > config.maxQueueBytes || c.out.chunkCount >= config.maxQueueFrames {
            c.framesDropped += c.out.dropUnstarted() + 1
            closeLive(c, code: .tryAgainLater, reason: "slow_consumer", retryAfterMilliseconds: 1000)
            return false
        }
        c.out.append(frame)
        c.framesQueued += 1
        c.cursor = id
        return true
    }

    /// Moves catch-up subscribers forward one bounded batch at a time, only while their queue is short.
    func serviceReplays() {
        guard !replaying.isEmpty else { return }
        for c in Array(replaying.values) {
            if c.closed || c.feed != .replaying {
                replaying[c.id] = nil
                continue
            }
            if c.out.byteCount > 256 * 1024 {
                replaying[c.id] = nil  // flush() brings it back once the socket drains
                continue
            }
            do {
                let rows = try store.channelMessages(c.channelID, after: c.cursor, upTo: lastSeen, limit: config.replayBatch)
                let now = Timestamp.now()
                for m in rows {
                    c.out.append(WebSocketFrameEncoder.frame(.text, payload: Envelope.message(m, epoch: store.epoch, now: now)))
                    c.framesQueued += 1
                    c.replayed += 1
                    c.cursor = m.id
                }
                if rows.count < config.replayBatch {
                    c.feed = .live
                    replaying[c.id] = nil
                }
            } catch {
                reporter.log(.warning, "replay_failed", ["error": .string("\(error)")])
            }
            flush(c)
            if c.writeRegistered { replaying[c.id] = nil }
        }
    }
}
