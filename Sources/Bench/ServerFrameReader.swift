/// Splits server→client WebSocket frames (RFC 6455 §5.2: never masked, so a header is 2, 4 or 10 bytes) out of
/// received bytes, and builds the masked frames a client must send.
enum ServerFrameReader {
    struct Frame {
        var fin: Bool
        var opcode: UInt8
        var payload: Range<Int>
        var end: Int
    }

    enum Step {
        case frame(Frame)
        /// The bytes from the offset on are an incomplete frame: keep them for the next read.
        case needMore
        case violation(String)
    }

    static let maxPayload = 1 << 20

    /// The frame starting at `offset`.
    static func next(_ p: UnsafeRawBufferPointer, at offset: Int) -> Step {
        guard p.count - offset >= 2 else { return .needMore }
        let b0 = p[offset]
        let b1 = p[offset + 1]
        if b0 & 0x70 != 0 { return .violation("reserved bits") }
        if b1 & 0x80 != 0 { return .violation("masked server frame") }
        var length = Int(b1 & 0x7F)
        var header = 2
        if length == 126 {
            guard p.count - offset >= 4 else { return .needMore }
            length = Int(p[offset + 2]) << 8 | Int(p[offset + 3])
            header = 4
        } else if length == 127 {
            guard p.count - offset >= 10 else { return .needMore }
            var wide: UInt64 = 0
            for i in 2..<10 { wide = wide << 8 | UInt64(p[offset + i]) }
            guard wide <= UInt64(maxPayload) else { return .violation("frame of \(wide) bytes") }
            length = Int(wide)
            header = 10
        }
        if length > maxPayload { return .violation("frame of \(length) bytes") }
        guard p.count - offset >= header + length else { return .needMore }
        let start = offset + header
        return .frame(
            Frame(fin: b0 & 0x80 != 0, opcode: b0 & 0x0F, payload: start..<(start + length), end: start + length))
    }

    /// A client frame: FIN, `opcode`, masked with a fresh key as RFC 6455 §5.3 requires of clients.
    static func maskedFrame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
        precondition(payload.count <= 125, "control payloads only")
        let key = UInt32.random(in: .min ... .max)
        var bytes: [UInt8] = [0x80 | opcode, 0x80 | UInt8(payload.count)]
        withUnsafeBytes(of: key) { bytes.append(contentsOf: $0) }
        for (i, b) in payload.enumerated() { bytes.append(b ^ bytes[2 + (i & 3)]) }
        return bytes
    }
}
