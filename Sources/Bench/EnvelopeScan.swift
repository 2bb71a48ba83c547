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
    private static let reasonKey = Array(#""reason":""#.utf8)

    static func scan(_ p: UnsafeRawBufferPointer) -> Kind {
        if hasPrefix(p, messageType) {
            guard let c = find(cursorKey, in: p, from: messageType.count),
                let (cursor, _) = integer(p, at: c + cursorKey.count),
                let d = find(dataID, in: p, from: c),
                let (id, _) = integer(p, at: d + dataID.count),
                let t = find(benchText, in: p, from: d),
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

    /// The offset of `needle` in `p` at or after `start`.
    static func find(_ needle: [UInt8], in p: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let first = needle.first, p.count >= needle.count, start <= p.count - needle.count else { return nil }
        var i = start
        let last = p.count - needle.count
        outer: while i <= last {
            if p[i] != first {
                i += 1
                continue
            }
            for j in 1..<needle.count where p[i + j] != needle[j] {
                i += 1
                continue outer
            }
            return i
        }
        return nil
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
