/// The `Idempotency-Key` of a `POST /api/messages` (or the `key` of an import line): 1–255 bytes of visible ASCII
/// (0x21–0x7E), compared exactly. A request repeated with the same key is answered with the ids of the first
/// without writing again.
package enum IdempotencyKey {
    package static let maxBytes = 255
    /// How long a key is remembered; a repeat after that is a new request.
    package static let windowMilliseconds: Int64 = 24 * 3600 * 1000

    /// The key, or nil when it is empty, too long or holds anything but visible ASCII.
    package static func validated(_ raw: String) -> String? {
        let bytes = raw.utf8
        guard (1...maxBytes).contains(bytes.count), bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return raw
    }

    /// What a key promises: the messages of its request, in a canonical JSON form (so a retry that re-encodes the
    /// same messages with other spacing or key order is the same request), hashed.
    package static func fingerprint(_ messages: [NewMessage]) -> String {
        var w = JSONWriter(capacity: 64 * messages.count)
        w.beginArray()
        for m in messages {
            w.beginObject()
            switch m.channel {
            case .id(let id): w.field("channel_id", id)
            case .name(let name): w.field("channel", name)
            }
            switch m.user {
            case .id(let id): w.field("user_id", id)
            case .name(let name): w.field("user", name)
            }
            w.field("text", m.text)
            if let sentAt = m.sentAt { w.field("sent_at", sentAt) }
            w.endObject()
        }
        w.endArray()
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        return String(decoding: SHA1.digest(w.bytes).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] }, as: UTF8.self)
    }
}
