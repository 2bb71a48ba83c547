import Glibc

/// Pulls the few fields the bench needs out of a server envelope by scanning bytes, not by parsing JSON:
/// the server writes fields in a fixed order (`type`, `cursor`, `epoch`, `sent_at`, `data` with `id` first),
/// and the bench's message texts are `lfb:<sequence>:<send time ns>`, which JSON leaves unescaped.
enum EnvelopeScan {
    enum Kind: Equatable {
        /// One of the bench's messages.
        case message(cursor: Int64, id: Int64, sequence: Int, sentNanoseconds: UInt64)
        /// A message envelope whose text is not the bench's (or that could not be read).
        case foreignMessage
        case status(reason: String)
        case other
    }

    static let textPrefix = "lfb:"
    private static let messageType = Array(#"{"type":"message""#.utf8)
    private static let statusType = Array(#"{"type":"status""#.utf8)
    private static let cursorKey = Array(#""cursor":"#.utf8)
    private static let dataID = Array(#""data":{"id":"#.utf8)
    private static let benchText = Array(#""text":"lfb:"#.utf8)
    /// Bytes of those two that are rare in an envelope (see `find`): the '{' of `"data":{`, the 'x' of `"text"`.
    private static let dataIDAnchor = 7
    private static let benchTextAnchor = 3
    private static let reasonKey = Array(#""reason":""#.utf8)

    static func scan(_ p: UnsafeRawBufferPointer) -> Kind {
        if hasPrefix(p, messageType) {
            guard let c = find(cursorKey, in: p, from: messageType.count),
                let (cursor, _) = integer(p, at: c + cursorKey.count),
                let d = find(dataID, anchor: dataIDAnchor, in: p, from: c),
                let (id, _) = integer(p, at: d + dataID.count),
                let t = find(benchText, anchor: benchTextAnchor, in: p, from: d),
                let (sequence, colon) = integer(p, at: t + benchText.count),
                colon < p.count, p[colon] == UInt8(ascii: ":"),
                let (sent, _) = integer(p, at: colon + 1)
            else { return .foreignMessage }
            return .message(cursor: cursor, id: id, sequence: Int(sequence), sentNanoseconds: UInt64(sent))
        }
        if hasPrefix(p, statusType) {
            guard let r = find(reasonKey, in: p, from: statusType.count) else { return .status(reason: "?") }
            var end = r + reasonKey.count
            while end < p.count && p[end] != UInt8(ascii: "\"") && end - r < 80 { end += 1 }
            return .status(
                reason: String(
                    decoding: UnsafeRawBufferPointer(rebasing: p[(r + reasonKey.count)..<end]), as: UTF8.self))
        }
        return .other
    }

    private static func hasPrefix(_ p: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        guard p.count >= prefix.count else { return false }
        for i in 0..<prefix.count where p[i] != prefix[i] { return false }
        return true
    }

    /// The offset of `needle` in `p` at or after `start`: memchr for its byte at `anchor`, then memcmp for the
    /// whole. Every occurrence has that byte at that place, and the hits come in order, so the first match is the
    /// first occurrence. With an anchor that is rare in envelopes ('{' of `"data":{`, 'x' of `"text"`) the scan
    /// skips the fields before it at memchr's speed: the client reads every frame a server sends, and a byte loop
    /// here cost it twice as much for livefeed's envelope (the epoch, the time and the message's other fields
    /// come first) as for the limit server's, a fifth of its samples at 1,000 subscribers x 1,000 messages/s.
    static func find(_ needle: [UInt8], anchor: Int = 0, in p: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = p.baseAddress, anchor >= 0, anchor < needle.count, start >= 0, p.count >= needle.count,
            start <= p.count - needle.count
        else { return nil }
        let last = p.count - needle.count  // the last offset an occurrence can start at
        let key = Int32(needle[anchor])
        return needle.withUnsafeBytes { n -> Int? in
            var i = start
            while i <= last {
                guard let hit = memchr(base + i + anchor, key, last - i + 1) else { return nil }
                i = base.distance(to: UnsafeRawPointer(hit)) - anchor
                if memcmp(base + i, n.baseAddress!, n.count) == 0 { return i }
                i += 1
            }
            return nil
        }
    }

    /// A non-negative decimal at `offset` (at most 19 digits) and the offset just past it.
    static func integer(_ p: UnsafeRawBufferPointer, at offset: Int) -> (Int64, Int)? {
        var i = offset
        var value: Int64 = 0
        while i < p.count && i - offset < 19 {
            let b = p[i]
            guard b >= 48 && b <= 57 else { break }
            value = value * 10 + Int64(b - 48)
            i += 1
        }
        return i == offset ? nil : (value, i)
    }
}
