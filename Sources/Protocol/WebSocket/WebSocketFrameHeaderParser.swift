/// Reassembles one client frame header from input split anywhere, failing at the first byte that breaks a
/// header rule. Holds at most 14 bytes; after it returns a header it is ready for the next one.
package struct WebSocketFrameHeaderParser: Sendable {
    private static let maxControlPayload = 125
    private var bytes: [UInt8] = []
    private var headerSize = 2

    package init() {
        bytes.reserveCapacity(14)
    }

    /// True when no byte of the next header has arrived yet.
    package var isEmpty: Bool {
        bytes.isEmpty
    }

    /// Consumes header bytes from `input` starting at `index`, advancing it. Returns the header once complete,
    /// nil when `input` ran out first.
    package mutating func parse(
        _ input: UnsafeRawBufferPointer,
        index: inout Int
    ) throws(WebSocketProtocolError) -> WebSocketFrameHeader? {
        while index < input.count {
            let before = bytes.count
            let take = min(headerSize - before, input.count - index)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index..<index + take]))
            index += take
            if before == 0 {
                try checkFirstByte()
            }
            if before < 2 && bytes.count >= 2 {
                try checkSecondByte()
            }
            if bytes.count == headerSize && headerSize > 2 {
                let header = try makeHeader()
                bytes.removeAll(keepingCapacity: true)
                headerSize = 2
                return header
            }
        }
        return nil
    }

    private func checkFirstByte() throws(WebSocketProtocolError) {
        let first = bytes[0]
        guard first & 0x70 == 0 else { throw .reservedBitsSet }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0F) else { throw .unknownOpcode(first & 0x0F) }
        if opcode.isControl && first & 0x80 == 0 {
            throw .fragmentedControlFrame
        }
    }

    private mutating func checkSecondByte() throws(WebSocketProtocolError) {
        let second = bytes[1]
        guard second & 0x80 != 0 else { throw .unmaskedFrame }
        let shortLength = Int(second & 0x7F)
        if bytes[0] & 0x08 != 0 && shortLength > Self.maxControlPayload {
            throw .controlFrameTooLong(shortLength)
        }
        let extendedLengthSize =
            switch shortLength {
            case 126: 2
            case 127: 8
            default: 0
            }
        headerSize = 2 + extendedLengthSize + 4
    }

    private func makeHeader() throws(WebSocketProtocolError) -> WebSocketFrameHeader {
        let shortLength = bytes[1] & 0x7F
        let keyOffset: Int
        let length: Int
        switch shortLength {
        case 126:
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            keyOffset = 4
        case 127:
            guard bytes[2] & 0x80 == 0 else { throw .invalidPayloadLength }
            var wide: UInt64 = 0
            for byte in bytes[2..<10] {
                wide = wide << 8 | UInt64(byte)
            }
            // Only reachable on 32-bit platforms: a length this machine cannot even count is certainly too big.
            guard let fits = Int(exactly: wide) else { throw .frameTooBig(Int.max) }
            length = fits
            keyOffset = 10
        default:
            length = Int(shortLength)
            keyOffset = 2
        }
        let key =
            UInt32(bytes[keyOffset]) | UInt32(bytes[keyOffset + 1]) << 8 | UInt32(bytes[keyOffset + 2]) << 16
            | UInt32(bytes[keyOffset + 3]) << 24
        // checkFirstByte already proved the opcode valid.
        let opcode = WebSocketOpcode(rawValue: bytes[0] & 0x0F)!
        return WebSocketFrameHeader(fin: bytes[0] & 0x80 != 0, opcode: opcode, payloadLength: length, maskingKey: key)
    }
}
