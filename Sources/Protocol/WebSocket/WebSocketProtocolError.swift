/// Why the server fails a WebSocket connection (RFC 6455 §7.1.7); each case maps to the close code it sends.
package enum WebSocketProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case unmaskedFrame
    case reservedBitsSet
    case unknownOpcode(UInt8)
    case fragmentedControlFrame
    case controlFrameTooLong(Int)
    case invalidPayloadLength
    case unexpectedContinuation
    case interruptedMessage
    case frameTooBig(Int)
    case messageTooBig(limit: Int)
    case invalidUTF8
    case invalidClosePayloadLength
    case invalidCloseCode(UInt16)
    case invalidCloseReason

    package var closeCode: WebSocketCloseCode {
        switch self {
        case .frameTooBig, .messageTooBig: .messageTooBig
        case .invalidUTF8, .invalidCloseReason: .invalidPayload
        default: .protocolError
        }
    }

    package var description: String {
        switch self {
        case .unmaskedFrame: "client frame is not masked"
        case .reservedBitsSet: "reserved bits set without a negotiated extension"
        case .unknownOpcode(let opcode): "reserved opcode \(opcode)"
        case .fragmentedControlFrame: "fragmented control frame"
        case .controlFrameTooLong(let length): "control frame payload of \(length) bytes exceeds 125"
        case .invalidPayloadLength: "payload length has its most significant bit set"
        case .unexpectedContinuation: "continuation frame without a message in progress"
        case .interruptedMessage: "new data frame while a fragmented message is in progress"
        case .frameTooBig(let length): "frame payload of \(length) bytes exceeds the limit"
        case .messageTooBig(let limit): "message exceeds the limit of \(limit) bytes"
        case .invalidUTF8: "text message is not valid UTF-8"
        case .invalidClosePayloadLength: "close frame payload of 1 byte"
        case .invalidCloseCode(let code): "close code \(code) may not be sent"
        case .invalidCloseReason: "close reason is not valid UTF-8"
        }
    }
}
