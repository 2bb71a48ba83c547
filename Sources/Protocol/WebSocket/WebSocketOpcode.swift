/// A WebSocket frame opcode (RFC 6455 §5.2). Values 0x3–0x7 and 0xB–0xF are reserved and have no case.
package enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// Close, ping and pong: at most 125 payload bytes, never fragmented, allowed between data fragments.
    package var isControl: Bool {
        rawValue & 0x8 != 0
    }
}
