/// Encodes server→client frames (RFC 6455 §5.2). A server never masks, so a header is 2, 4 or 10 bytes.
package enum WebSocketFrameEncoder {
    /// The largest header this encoder writes: two bytes plus a 64-bit extended length.
    package static let maxHeaderSize = 10
    /// The largest close reason, in UTF-8 bytes: a control payload holds 125 bytes, two of them the code.
    package static let maxCloseReasonBytes = 123

    /// Appends a frame header for a payload of `length` bytes (FIN set unless `fin` is false).
    package static func appendHeader(to buffer: inout [UInt8], opcode: WebSocketOpcode, length: Int, fin: Bool = true) {
        precondition(length >= 0, "negative WebSocket payload length")
        buffer.append((fin ? 0x80 : 0) | opcode.rawValue)
        switch length {
        case 0...125:
            buffer.append(UInt8(length))
        case 126...0xFFFF:
            buffer.append(126)
            buffer.append(UInt8(truncatingIfNeeded: length >> 8))
            buffer.append(UInt8(truncatingIfNeeded: length))
        default:
            buffer.append(127)
            let wide = UInt64(length)
            for shift in stride(from: 56, through: 0, by: -8) {
                buffer.append(UInt8(truncatingIfNeeded: wide >> UInt64(shift)))
            }
        }
    }

    package static func frame(_ opcode: WebSocketOpcode, payload: some Collection<UInt8>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(maxHeaderSize + payload.count)
        appendHeader(to: &bytes, opcode: opcode, length: payload.count)
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// A close frame carrying `code` and `reason`, the reason cut at a character boundary to fit 123 bytes.
    package static func closeFrame(_ code: WebSocketCloseCode, reason: String = "") -> [UInt8] {
        let utf8 = reason.utf8
        var reasonEnd = utf8.endIndex
        if utf8.count > maxCloseReasonBytes {
            reasonEnd = utf8.index(utf8.startIndex, offsetBy: maxCloseReasonBytes)
            // A String's UTF-8 is well formed, so backing up over continuation bytes lands on a scalar start.
            while reasonEnd > utf8.startIndex && utf8[reasonEnd] & 0xC0 == 0x80 {
                reasonEnd = utf8.index(before: reasonEnd)
            }
        }
        let reasonBytes = utf8[utf8.startIndex..<reasonEnd]
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 + 2 + reasonBytes.count)
        appendHeader(to: &bytes, opcode: .close, length: 2 + reasonBytes.count)
        bytes.append(UInt8(truncatingIfNeeded: code.rawValue >> 8))
        bytes.append(UInt8(truncatingIfNeeded: code.rawValue))
        bytes.append(contentsOf: reasonBytes)
        return bytes
    }
}
