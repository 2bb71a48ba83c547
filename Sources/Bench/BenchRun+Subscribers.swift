import Foundation
import Glibc
import LivefeedProtocol

/// Subscribers: non-blocking connect from a spread of source addresses, the WebSocket handshake, and reading
/// frames. Every read is one read(2) of up to 64 KiB: with level-triggered epoll, whatever is left is reported
/// again, so no read is spent just to learn EAGAIN.
extension BenchRun {
    /// Connects every subscriber, at most `connectBatch` between connect() and 101 at once, until `deadline`.
    func connectSubscribers(deadline: UInt64) throws(BenchError) {
        var next = 0
        // Bounded by the deadline; each pass starts at most connectBatch connects and waits at most 20 ms.
        while live + failedSubscribers < subscribers.count && clock.nowNanoseconds < deadline {
            while next < subscribers.count && handshaking < options.connectBatch {
                start(subscribers[next])
                next += 1
            }
            try pump(timeoutMilliseconds: 20)
        }
        for s in subscribers where s.phase != .live && s.phase != .closed {
            fail(s, "not live by the connect deadline")
        }
    }

    private func start(_ s: Subscriber) {
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        s.expectedAccept = WebSocketHandshake.acceptValue(forKey: key)
        // A reconnect resumes after the last message received, as a page does.
        let after = s.wasLive && s.lastID > 0 ? s.lastID : warmupID
        let target = options.subscribeURL?.path ?? "/live/channels/\(channelID)?after_id=\(after)"
        s.request = Array(
            ("GET \(target) HTTP/1.1\r\nHost: \(address)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\nOrigin: http://\(address)\r\n\r\n").utf8)
        s.requestSent = 0
        handshaking += 1
        s.phase = .connecting
        do {
            switch try ClientSocket.connect(to: address, from: s.source) {
            case .connected(let fd):
                s.fd = fd
                try epoll.add(fd, events: [.readable, .readHangup], token: UInt64(s.index))
                sendRequest(s)
            case .inProgress(let fd):
                s.fd = fd
                try epoll.add(fd, events: [.writable], token: UInt64(s.index))
            }
        } catch {
            fail(s, "\(error.call): \(String(cString: strerror(error.errno)))")
        }
    }

    private func sendRequest(_ s: Subscriber) {
        guard let fd = s.fd else { return }
        let n = s.request[s.requestSent...].withUnsafeBytes {
            Glibc.send(fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
        }
        if n > 0 {
            s.requestSent += n
        } else if n < 0 && errno != EAGAIN && errno != EINTR {
            return fail(s, "send: \(String(cString: strerror(errno)))")
        }
        s.phase = .handshaking
        let events: Epoll.Events =
            s.requestSent < s.request.count ? [.readable, .readHangup, .writable] : [.readable, .readHangup]
        try? epoll.modify(fd, events: events, token: UInt64(s.index))
    }

    func handleSubscriber(_ s: Subscriber, _ events: Epoll.Events) {
        switch s.phase {
        case .connecting:
            guard let fd = s.fd else { return }
            let err = ClientSocket.pendingError(fd)
            if err != 0 { return fail(s, "connect: \(String(cString: strerror(err)))") }
            sendRequest(s)
        case .handshaking:
            if events.contains(.writable) && s.requestSent < s.request.count { sendRequest(s) }
            if events.contains(.readable) || events.contains(.readHangup) || events.contains(.hangup) {
                readSubscriber(s)
            }
        case .live:
            readSubscriber(s)
        case .waiting, .closed:
            break
        }
    }

    private func readSubscriber(_ s: Subscriber) {
        guard let fd = s.fd else { return }
        let outcome: IOResult<Int>
        do {
            outcome = try fd.read(into: scratch)
        } catch {
            return lose(s, "read: \(String(cString: strerror(error.errno)))")
        }
        guard case .done(let n) = outcome else { return }
        let now = clock.nowNanoseconds
        if n == 0 {
            return lose(s, s.phase == .handshaking ? "closed before 101" : "closed by server")
        }
        let chunk = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
        if s.phase == .handshaking {
            s.carry.append(contentsOf: chunk)
            finishHandshake(s, now: now)
            return
        }
        if s.carry.isEmpty {
            let used = consumeFrames(s, chunk, now: now)
            if used < n && s.phase == .live { s.carry.append(contentsOf: chunk[used...]) }
        } else {
            s.carry.append(contentsOf: chunk)
            let used = s.carry.withUnsafeBytes { consumeFrames(s, $0, now: now) }
            if s.phase == .live { s.carry.removeFirst(used) }
        }
    }

    private func finishHandshake(_ s: Subscriber, now: UInt64) {
        guard let end = HTTPResponseReader.headEnd(s.carry) else {
            if s.carry.count > 8192 { fail(s, "response head too long") }
            return
        }
        let head = String(decoding: s.carry[0..<end], as: UTF8.self)
        var reader = HTTPResponseReader()
        s.carry.withUnsafeBytes { reader.feed($0) }
        guard let response = try? reader.next(bodyless: true) else { return fail(s, "malformed response head") }
        guard response.status == 101 else {
            let code = ServerLog.stringField(String(decoding: reader.buffer.prefix(300), as: UTF8.self), "code")
            return fail(s, "HTTP \(response.status)" + (code.map { " \($0)" } ?? ""))
        }
        guard response.header("Sec-WebSocket-Accept") == s.expectedAccept else {
            return fail(s, "bad Sec-WebSocket-Accept in '\(head.prefix(120))'")
        }
        if let name = options.groupHeader {
            s.group = response.header(name) ?? "-"
            groupsEverServed[s.group, default: 0] += 1
        }
        s.carry = reader.takeRemainder()
        s.phase = .live
        s.wasLive = true
        s.failedAttempts = 0
        handshaking -= 1
        live += 1
        if !s.carry.isEmpty {
            let used = s.carry.withUnsafeBytes { consumeFrames(s, $0, now: now) }
            if s.phase == .live { s.carry.removeFirst(used) }
        }
    }

    /// Handles every complete frame in `p`; returns the bytes used (the rest is an incomplete frame).
    private func consumeFrames(_ s: Subscriber, _ p: UnsafeRawBufferPointer, now: UInt64) -> Int {
        var offset = 0
        // At most one frame per two bytes: bounded by the buffer.
        while offset < p.count && s.phase == .live {
            switch ServerFrameReader.next(p, at: offset) {
            case .needMore:
                return offset
            case .violation(let why):
                receipts.protocolErrors += 1
                lose(s, "protocol violation: \(why)")
                return p.count
            case .frame(let f):
                offset = f.end
                let payload = UnsafeRawBufferPointer(rebasing: p[f.payload])
                switch f.opcode {
                case 0x1 where f.fin:
                    switch EnvelopeScan.scan(payload) {
                    case .message(_, let id, let sequence, let sent):
                        receipts.record(s, id: id, sequence: sequence, sentNanoseconds: sent, now: now)
                    case .foreignMessage: receipts.foreignMessages += 1
                    case .status(let reason): receipts.statusReasons[reason, default: 0] += 1
                    case .other: receipts.otherFrames += 1
                    }
                case 0x9:
                    let pong = ServerFrameReader.maskedFrame(opcode: 0xA, payload: Array(payload))
                    _ = pong.withUnsafeBytes { try? s.fd?.write($0) }
                case 0xA:
                    break
                case 0x8:
                    let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005
                    s.closeCode = code
                    receipts.closeCodes[code, default: 0] += 1
                    lose(s, "closed by server with \(code)")
                    return p.count
                default:
                    receipts.binaryOrFragmented += 1
                }
            }
        }
        return offset
    }

    /// A subscriber that never became live.
    private func fail(_ s: Subscriber, _ why: String) {
        if s.phase == .connecting || s.phase == .handshaking { handshaking -= 1 }
        if options.resume && s.wasLive { return scheduleReconnect(s, why) }
        failedSubscribers += 1
        connectFailures[why, default: 0] += 1
        closeSocket(s)
    }

    /// A subscriber that was live or handshaking and is now gone.
    private func lose(_ s: Subscriber, _ why: String) {
        if s.phase != .live { return fail(s, why) }
        live -= 1
        if options.resume { return scheduleReconnect(s, why) }
        lostSubscribers[why, default: 0] += 1
        closeSocket(s)
    }

    /// `--resume`: closes the socket and sets when to connect again: 0.1-0.5 s after a loss, doubling with every
    /// failed attempt in a row up to 2 s.
    private func scheduleReconnect(_ s: Subscriber, _ why: String) {
        closeSocket(s)
        reconnectReasons[why, default: 0] += 1
        let base = min(2_000, 100 << min(s.failedAttempts, 5))
        s.failedAttempts += 1
        s.reconnectAt = clock.nowNanoseconds + UInt64(base + Int.random(in: 0...400)) * 1_000_000
        s.phase = .waiting
        reconnecting += 1
    }

    /// Starts the reconnects that are due, at most `connectBatch` handshakes at once.
    func serviceReconnects() {
        guard reconnecting > 0 else { return }
        let now = clock.nowNanoseconds
        for s in subscribers where s.phase == .waiting && s.wasLive && s.reconnectAt <= now {
            guard handshaking < options.connectBatch else { return }
            reconnecting -= 1
            s.reconnects += 1
            start(s)
        }
    }

    func closeSocket(_ s: Subscriber) {
        s.fd?.close()
        s.fd = nil
        s.phase = .closed
        s.carry = []
        s.request = []
    }
}
