import Foundation
import LivefeedProtocol

/// A WebSocket opcode (RFC 6455 §5.2); unknown values are kept so tests can report them.
struct WebSocketOpcode: RawRepresentable, Hashable, CustomStringConvertible {
    let rawValue: UInt8
    init(rawValue: UInt8) { self.rawValue = rawValue }

    static let continuation = Self(rawValue: 0x0)
    static let text = Self(rawValue: 0x1)
    static let binary = Self(rawValue: 0x2)
    static let close = Self(rawValue: 0x8)
    static let ping = Self(rawValue: 0x9)
    static let pong = Self(rawValue: 0xA)

    var isControl: Bool { rawValue & 0x8 != 0 }

    var description: String {
        switch self {
        case .continuation: "continuation"
        case .text: "text"
        case .binary: "binary"
        case .close: "close"
        case .ping: "ping"
        case .pong: "pong"
        default: "opcode(\(rawValue))"
        }
    }
}

/// One frame as received from the server (unmasked).
struct WebSocketFrame {
    var fin: Bool
    var opcode: WebSocketOpcode
    var payload: [UInt8]

    var text: String { String(decoding: payload, as: UTF8.self) }

    /// The status code of a close frame, if it carries one.
    var closeCode: UInt16? {
        guard opcode == .close, payload.count >= 2 else { return nil }
        return UInt16(payload[0]) << 8 | UInt16(payload[1])
    }

    var closeReason: String {
        opcode == .close && payload.count > 2 ? String(decoding: payload[2...], as: UTF8.self) : ""
    }
}

/// How a WebSocket connection ended, as the client saw it.
enum WebSocketEnding: Equatable, CustomStringConvertible {
    /// The server sent a close frame.
    case closeFrame(code: UInt16?, reason: String)
    /// The TCP stream ended without a close frame (e.g. the serving process died).
    case endOfStream
    /// The TCP connection was reset.
    case reset

    var description: String {
        switch self {
        case .closeFrame(let code, let reason): "close frame \(code.map(String.init) ?? "without code") \(reason)"
        case .endOfStream: "end of stream without close frame"
        case .reset: "connection reset"
        }
    }
}

/// Thrown by `readMessage`/`readEnvelope` when the connection ends instead.
struct WebSocketEnded: Error, CustomStringConvertible {
    var ending: WebSocketEnding
    var description: String { "WebSocket ended: \(ending)" }
}

/// The outcome of an upgrade request: a connected client, or the HTTP response that refused it.
enum WebSocketHandshake {
    case upgraded(WebSocketClient)
    case refused(HTTPResponse)
}

/// A raw-socket WebSocket client for the server under test.
///
/// Owns a `TCPSocket`. Sends masked frames; reads unmasked frames with a deadline. `readFrame` answers nothing by
/// itself (pings are returned to the caller); `readMessage` and `readEnvelope` answer pings with pongs and skip
/// control frames, since they model a well-behaved browser.
final class WebSocketClient {

    let socket: TCPSocket
    /// The 101 response, kept for header checks.
    let handshakeResponse: HTTPResponse

    private init(socket: TCPSocket, handshakeResponse: HTTPResponse) {
        self.socket = socket
        self.handshakeResponse = handshakeResponse
    }

    /// The value a server must answer in Sec-WebSocket-Accept for `key` (the codec is unit-tested against
    /// RFC 6455's example in ProtocolTests).
    static func acceptValue(forKey key: String) -> String { LivefeedProtocol.WebSocketHandshake.acceptValue(forKey: key) }

    /// Sends an upgrade request for `path`. A 101 must carry the right Sec-WebSocket-Accept, Upgrade and Connection
    /// headers (otherwise this throws); any other status is returned as `.refused`.
    /// `origin` defaults to the server's own origin, `http://127.0.0.1:PORT`; `sendsOrigin: false` omits it.
    static func handshake(
        port: UInt16, path: String, origin: String? = nil, sendsOrigin: Bool = true, headers: [(String, String)] = [],
        receiveBufferSize: Int32? = nil, timeout: Duration = .seconds(10), sendingWithHead early: [UInt8] = []
    ) throws -> WebSocketHandshake {
        let socket = try TCPSocket(connectingToPort: port, receiveBufferSize: receiveBufferSize)
        let key = Data((0..<16).map { _ in UInt8.random(in: .min ... .max) }).base64EncodedString()
        let originValue = sendsOrigin ? origin ?? "http://127.0.0.1:\(port)" : nil
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        head += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        if let originValue { head += "Origin: \(originValue)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        try socket.send(Array(head.utf8) + early)  // `early`: frames in the same write, before the 101 is read
        let response = try HTTPResponse.read(from: socket, requestMethod: "GET", deadline: .now + timeout)
        guard response.status == 101 else {
            socket.close()
            return .refused(response)
        }
        guard response.header("Sec-WebSocket-Accept") == acceptValue(forKey: key) else {
            throw SocketError.protocolViolation(
                "Sec-WebSocket-Accept \(response.header("Sec-WebSocket-Accept") ?? "missing") for key \(key)")
        }
        guard response.header("Upgrade")?.lowercased() == "websocket",
            response.header("Connection")?.lowercased().contains("upgrade") == true
        else {
            throw SocketError.protocolViolation("101 without Upgrade/Connection headers: \(response)")
        }
        return .upgraded(WebSocketClient(socket: socket, handshakeResponse: response))
    }

    /// Like `handshake`, but a refusal is an error.
    static func connect(
        port: UInt16, path: String, origin: String? = nil, headers: [(String, String)] = [],
        receiveBufferSize: Int32? = nil, timeout: Duration = .seconds(10)
    ) throws -> WebSocketClient {
        switch try handshake(
            port: port, path: path, origin: origin, headers: headers, receiveBufferSize: receiveBufferSize,
            timeout: timeout)
        {
        case .upgraded(let client): return client
        case .refused(let response):
            throw SocketError.protocolViolation("upgrade of \(path) refused: \(response)")
        }
    }

    /// The client-side port, to find which process holds the server side.
    var localPort: UInt16 { socket.localPort }

    // MARK: Sending

    /// Sends one masked frame.
    func send(_ opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true) throws {
        try socket.send(Self.maskedFrame(opcode, payload: payload, fin: fin))
    }

    /// One frame as a client sends it (masked).
    static func maskedFrame(_ opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode.rawValue]
        switch payload.count {
        case ..<126:
            frame.append(0x80 | UInt8(payload.count))
        case ..<65536:
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default:
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(payload.count) >> (8 * UInt64($0))) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: .min ... .max) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return frame
    }

    func sendText(_ text: String) throws { try send(.text, payload: Array(text.utf8)) }
    func sendPing(_ payload: [UInt8] = []) throws { try send(.ping, payload: payload) }
    func sendPong(_ payload: [UInt8] = []) throws { try send(.pong, payload: payload) }

    func sendClose(code: UInt16 = 1000, reason: String = "") throws {
        try send(.close, payload: [UInt8(code >> 8), UInt8(code & 0xff)] + Array(reason.utf8))
    }

    // MARK: Receiving

    /// Reads the next frame of any kind. Throws `SocketError` on timeout, EOF or reset.
    func readFrame(timeout: Duration = .seconds(10)) throws -> WebSocketFrame {
        try readFrame(deadline: .now + timeout)
    }

    func readFrame(deadline: ContinuousClock.Instant) throws -> WebSocketFrame {
        let header = try socket.read(exactly: 2, deadline: deadline, waitingFor: "a frame header")
        let fin = header[0] & 0x80 != 0
        guard header[0] & 0x70 == 0 else {
            throw SocketError.protocolViolation("RSV bits set without a negotiated extension: \(header[0])")
        }
        let opcode = WebSocketOpcode(rawValue: header[0] & 0x0f)
        guard header[1] & 0x80 == 0 else { throw SocketError.protocolViolation("server frame is masked") }
        var length = Int(header[1] & 0x7f)
        if length == 126 {
            let bytes = try socket.read(exactly: 2, deadline: deadline, waitingFor: "a 16-bit length")
            length = Int(bytes[0]) << 8 | Int(bytes[1])
        } else if length == 127 {
            let bytes = try socket.read(exactly: 8, deadline: deadline, waitingFor: "a 64-bit length")
            let value = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard value <= 64 * 1024 * 1024 else { throw SocketError.protocolViolation("frame of \(value) bytes") }
            length = Int(value)
        }
        if opcode.isControl && (length > 125 || !fin) {
            throw SocketError.protocolViolation("control frame \(opcode) fragmented or \(length) bytes long")
        }
        let payload = try socket.read(exactly: length, deadline: deadline, waitingFor: "a \(length)-byte payload")
        return WebSocketFrame(fin: fin, opcode: opcode, payload: payload)
    }

    /// Reads the next complete data message (text or binary, reassembled from fragments). Pings are answered with
    /// pongs and skipped; a close frame, EOF or reset throws `WebSocketEnded`.
    func readMessage(timeout: Duration = .seconds(10)) throws -> (opcode: WebSocketOpcode, payload: [UInt8]) {
        let deadline = ContinuousClock.now + timeout
        var first: WebSocketOpcode?
        var payload: [UInt8] = []
        while true {
            let frame: WebSocketFrame
            do {
                frame = try readFrame(deadline: deadline)
            } catch SocketError.closedByPeer {
                throw WebSocketEnded(ending: .endOfStream)
            } catch SocketError.resetByPeer {
                throw WebSocketEnded(ending: .reset)
            }
            switch frame.opcode {
            case .ping:
                try? sendPong(frame.payload)
            case .pong:
                continue
            case .close:
                throw WebSocketEnded(ending: .closeFrame(code: frame.closeCode, reason: frame.closeReason))
            case .text, .binary:
                guard first == nil else { throw SocketError.protocolViolation("new \(frame.opcode) inside a message") }
                first = frame.opcode
                payload = frame.payload
                if frame.fin { return (frame.opcode, payload) }
            case .continuation:
                guard let opcode = first else { throw SocketError.protocolViolation("continuation without a start") }
                payload += frame.payload
                if frame.fin { return (opcode, payload) }
            default:
                throw SocketError.protocolViolation("unknown \(frame.opcode)")
            }
        }
    }

    /// Reads the next data message, which must be a text frame holding one JSON object (a livefeed envelope).
    func readEnvelope(timeout: Duration = .seconds(10)) throws -> [String: Any] {
        let message = try readMessage(timeout: timeout)
        guard message.opcode == .text else {
            throw SocketError.protocolViolation("envelope in a \(message.opcode) frame")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any] else {
            throw SocketError.protocolViolation(
                "envelope is not a JSON object: \(String(decoding: message.payload, as: UTF8.self))")
        }
        return object
    }

    /// Reads until the connection ends, answering pings and discarding data; returns how it ended.
    /// Throws `SocketError.timedOut` if it is still open at the deadline.
    func awaitEnding(timeout: Duration = .seconds(10)) throws -> WebSocketEnding {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                _ = try readMessage(timeout: deadline - .now)
            } catch let ended as WebSocketEnded {
                return ended.ending
            }
        }
    }

    /// Starts the closing handshake with `code`, waits (bounded) for the server's close frame or EOF, and closes
    /// the socket. Returns how the server answered, or nil if it did not within the timeout.
    @discardableResult
    func close(code: UInt16 = 1000, timeout: Duration = .seconds(5)) -> WebSocketEnding? {
        defer { socket.close() }
        guard socket.fd >= 0, (try? sendClose(code: code)) != nil else { return nil }
        return try? awaitEnding(timeout: timeout)
    }
}
