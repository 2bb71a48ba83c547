/// The server side of one WebSocket connection after the opening handshake (RFC 6455 §5–7): bytes in, actions
/// out. Pure: it owns no fd and reads no clock. Buffers only a partial header, the current control frame and the
/// data message being assembled, which the limits bound.
///
/// States: open → closing (we sent a close frame; data from the peer is dropped) → closed (the closing handshake
/// finished or the connection failed; `receive` returns nothing more). `initiateClose` is allowed in any state
/// and returns nil once a close frame has been sent.
package struct WebSocketConnectionState: Sendable {
    /// Payload size limits; exceeding either fails the connection with 1009 as soon as the header shows it.
    package struct Limits: Sendable {
        package var maxFrameBytes: Int
        package var maxMessageBytes: Int

        package init(maxFrameBytes: Int = 1 << 20, maxMessageBytes: Int = 1 << 20) {
            self.maxFrameBytes = maxFrameBytes
            self.maxMessageBytes = maxMessageBytes
        }
    }

    /// Whether a close frame has gone out, and whether the connection is finished.
    private enum Phase {
        case open
        case closing
        case closed
    }

    /// Where the payload of the frame being read goes.
    private enum PayloadSink {
        case message
        case control
        case discard
    }

    private let limits: Limits
    private var phase = Phase.open
    private var headerParser = WebSocketFrameHeaderParser()
    private var frame: WebSocketFrameHeader?
    private var frameBytesRead = 0
    private var sink = PayloadSink.discard
    private var messageOpcode: WebSocketOpcode?
    private var message: [UInt8] = []
    private var utf8 = UTF8StreamValidator()
    private var controlPayload: [UInt8] = []

    package init(limits: Limits = .init()) {
        self.limits = limits
    }

    /// A close frame has been sent (or is among the actions just returned).
    package var isClosing: Bool {
        phase != .open
    }

    /// Open, and between frames with no fragmented message under way: what was read so far is fully consumed, so
    /// another process can continue reading this connection with a fresh state (a handover on reload).
    package var isAtFrameBoundary: Bool {
        phase == .open && frame == nil && headerParser.isEmpty && messageOpcode == nil
    }

    /// The closing handshake is complete or the connection failed: the caller should flush and close TCP.
    package var isClosed: Bool {
        phase == .closed
    }

    /// Feeds bytes just read from the socket, split anywhere. Returns the actions they cause, in order.
    package mutating func receive(_ bytes: UnsafeRawBufferPointer) -> [WebSocketAction] {
        var actions: [WebSocketAction] = []
        var index = 0
        do {
            while phase != .closed {
                if let frame {
                    try readPayload(of: frame, from: bytes, index: &index)
                    guard frameBytesRead == frame.payloadLength else { break }
                    self.frame = nil
                    try finish(frame, actions: &actions)
                } else {
                    guard index < bytes.count, let header = try headerParser.parse(bytes, index: &index) else { break }
                    try begin(header)
                }
            }
        } catch {
            fail(error, actions: &actions)
        }
        return actions
    }

    /// Convenience for callers and tests holding an array.
    package mutating func receive(_ bytes: [UInt8]) -> [WebSocketAction] {
        bytes.withUnsafeBytes { receive($0) }
    }

    /// Starts a server-initiated close: returns the close frame to write, or nil if a close was already sent.
    /// Data frames from the peer are then dropped until its close frame arrives, which yields `.closeConnection`.
    package mutating func initiateClose(_ code: WebSocketCloseCode, reason: String = "") -> [UInt8]? {
        guard phase == .open else { return nil }
        phase = .closing
        dropMessage()
        if sink == .message {
            sink = .discard
        }
        return WebSocketFrameEncoder.closeFrame(code, reason: reason)
    }

    private mutating func begin(_ header: WebSocketFrameHeader) throws(WebSocketProtocolError) {
        if header.opcode.isControl {
            controlPayload.removeAll(keepingCapacity: true)
            sink = .control
        } else if phase == .closing {
            // §5.5.1: after sending close we only wait for the peer's close, so fragmentation is not tracked.
            sink = .discard
        } else {
            if header.opcode == .continuation {
                guard messageOpcode != nil else { throw .unexpectedContinuation }
            } else {
                guard messageOpcode == nil else { throw .interruptedMessage }
            }
            guard header.payloadLength <= limits.maxFrameBytes else { throw .frameTooBig(header.payloadLength) }
            guard header.payloadLength <= limits.maxMessageBytes - message.count else {
                throw .messageTooBig(limit: limits.maxMessageBytes)
            }
            if header.opcode != .continuation {
                messageOpcode = header.opcode
                utf8 = UTF8StreamValidator()
            }
            sink = .message
        }
        frame = header
        frameBytesRead = 0
    }

    private mutating func readPayload(
        of frame: WebSocketFrameHeader,
        from bytes: UnsafeRawBufferPointer,
        index: inout Int
    ) throws(WebSocketProtocolError) {
        let count = min(frame.payloadLength - frameBytesRead, bytes.count - index)
        guard count > 0 else { return }
        let chunk = UnsafeRawBufferPointer(rebasing: bytes[index..<index + count])
        let offset = frameBytesRead
        index += count
        frameBytesRead += count
        switch sink {
        case .discard:
            break
        case .control:
            Self.appendUnmasked(chunk, to: &controlPayload, frame: frame, payloadOffset: offset)
        case .message:
            let validate = messageOpcode == .text
            let valid = Self.appendUnmasked(chunk, to: &message, frame: frame, payloadOffset: offset) { appended in
                !validate || utf8.validate(appended)
            }
            // Fail at the first bad byte, not at the end of the message (Autobahn 6.4.x).
            guard valid else { throw .invalidUTF8 }
        }
    }

    /// Appends `chunk` to `buffer`, unmasks the new bytes in place, then hands them to `check`.
    @discardableResult
    private static func appendUnmasked(
        _ chunk: UnsafeRawBufferPointer,
        to buffer: inout [UInt8],
        frame: WebSocketFrameHeader,
        payloadOffset: Int,
        check: (UnsafeRawBufferPointer) -> Bool = { _ in true }
    ) -> Bool {
        let start = buffer.count
        buffer.append(contentsOf: chunk)
        return buffer.withUnsafeMutableBytes { raw in
            let appended = UnsafeMutableRawBufferPointer(rebasing: raw[start...])
            frame.unmask(appended, payloadOffset: payloadOffset)
            return check(UnsafeRawBufferPointer(appended))
        }
    }

    private mutating func finish(
        _ frame: WebSocketFrameHeader,
        actions: inout [WebSocketAction]
    ) throws(WebSocketProtocolError) {
        switch frame.opcode {
        case .text, .binary, .continuation:
            guard sink == .message, frame.fin, let opcode = messageOpcode else { return }
            guard opcode != .text || utf8.isAtBoundary else { throw .invalidUTF8 }
            actions.append(.message(opcode: opcode, payload: message))
            messageOpcode = nil
            message = []
        case .ping:
            // Once our close is out, pings no longer need answers (§5.5.1: the peer is about to close).
            if phase == .open {
                actions.append(.send(WebSocketFrameEncoder.frame(.pong, payload: controlPayload)))
            }
        case .pong:
            if phase == .open {
                actions.append(.pong(payload: controlPayload))
            }
        case .close:
            try receiveClose(actions: &actions)
        }
    }

    /// Handles the peer's close frame (§5.5.1, §7.1.5–7.1.6): validate it, echo its code unless we already sent
    /// a close, and finish.
    private mutating func receiveClose(actions: inout [WebSocketAction]) throws(WebSocketProtocolError) {
        var code: WebSocketCloseCode?
        var reason = ""
        switch controlPayload.count {
        case 0:
            break
        case 1:
            throw .invalidClosePayloadLength
        default:
            let received = WebSocketCloseCode(rawValue: UInt16(controlPayload[0]) << 8 | UInt16(controlPayload[1]))
            guard received.isValidOnWire else { throw .invalidCloseCode(received.rawValue) }
            let reasonBytes = controlPayload[2...]
            guard UTF8StreamValidator.isValid(reasonBytes) else { throw .invalidCloseReason }
            code = received
            reason = String(decoding: reasonBytes, as: UTF8.self)
        }
        if phase == .open {
            // With no code to echo, reply with an empty close: 1005 must never go on the wire (§7.4.1).
            let reply =
                code.map { WebSocketFrameEncoder.closeFrame($0) } ?? WebSocketFrameEncoder.frame(.close, payload: [])
            actions.append(.send(reply))
        }
        enterClosed()
        actions.append(.closeConnection(code: code, reason: reason))
    }

    private mutating func fail(_ error: WebSocketProtocolError, actions: inout [WebSocketAction]) {
        if phase == .open {
            actions.append(.send(WebSocketFrameEncoder.closeFrame(error.closeCode)))
        }
        enterClosed()
        actions.append(.closeConnection(code: error.closeCode, reason: error.description))
    }

    private mutating func enterClosed() {
        phase = .closed
        frame = nil
        sink = .discard
        dropMessage()
        controlPayload = []
    }

    private mutating func dropMessage() {
        messageOpcode = nil
        message = []
    }
}
