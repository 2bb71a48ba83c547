/// What the caller must do after `WebSocketConnectionState` consumed some bytes, in the order given.
package enum WebSocketAction: Equatable, Sendable {
    /// A complete data message, `.text` or `.binary`. Text payloads have already been validated as UTF-8.
    case message(opcode: WebSocketOpcode, payload: [UInt8])
    /// A pong arrived; the caller uses it for heartbeats.
    case pong(payload: [UInt8])
    /// Bytes to write to the socket, after anything queued earlier: pong replies, close replies, close on failure.
    case send([UInt8])
    /// Stop reading; after writing everything queued, close the TCP connection. `code` is the peer's close code
    /// (nil when its close frame carried none) or, on failure, the code we sent; `reason` is the peer's reason or a
    /// description of the failure.
    case closeConnection(code: WebSocketCloseCode?, reason: String)
}
