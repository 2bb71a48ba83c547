/// The header of one client→server frame (RFC 6455 §5.2) after it has passed the checks that need no
/// connection state: known opcode, no reserved bits, masked, and control frames short and unfragmented.
package struct WebSocketFrameHeader: Equatable, Sendable {
    package var fin: Bool
    package var opcode: WebSocketOpcode
    package var payloadLength: Int
    /// The four key bytes in wire order, the first in the low eight bits.
    package var maskingKey: UInt32

    package init(fin: Bool, opcode: WebSocketOpcode, payloadLength: Int, maskingKey: UInt32) {
        self.fin = fin
        self.opcode = opcode
        self.payloadLength = payloadLength
        self.maskingKey = maskingKey
    }

    /// Unmasks (or masks: XOR is its own inverse, §5.3) `payload` in place, where `payload` starts
    /// `payloadOffset` bytes into this frame's payload.
    package func unmask(_ payload: UnsafeMutableRawBufferPointer, payloadOffset: Int) {
        let shift = UInt32(payloadOffset & 3) * 8
        let key = maskingKey >> shift | maskingKey << (32 - shift)
        let wideKey = UInt64(key) | UInt64(key) << 32
        var index = 0
        let count = payload.count
        while count - index >= 8 {
            let word = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            payload.storeBytes(of: (word ^ wideKey).littleEndian, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < count {
            payload[index] ^= UInt8(truncatingIfNeeded: key >> (UInt32(index & 3) * 8))
            index += 1
        }
    }
}
