import Foundation

/// The WebSocket opening handshake's key check and `Sec-WebSocket-Accept` derivation (RFC 6455 §4.2.1–4.2.2).
/// The HTTP side (method, `Upgrade`, `Connection`, `Sec-WebSocket-Version: 13`) is checked by the HTTP layer.
package enum WebSocketHandshake {
    package static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// base64(SHA-1(key + GUID)), the value of the response's `Sec-WebSocket-Accept` header.
    package static func acceptValue(forKey key: String) -> String {
        Data(SHA1.digest((key + guid).utf8)).base64EncodedString()
    }

    /// True when `key` is base64 that decodes to exactly 16 bytes (§4.2.1 item 5). The caller trims header
    /// whitespace first; anything else, embedded spaces included, is rejected.
    package static func isValidKey(_ key: String) -> Bool {
        // 16 bytes always encode to 24 characters; checking first keeps a huge header from being decoded.
        guard key.utf8.count == 24, let decoded = Data(base64Encoded: key) else { return false }
        return decoded.count == 16
    }
}
