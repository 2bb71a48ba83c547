/// A new message to store; channel and user by name (created when unknown) or by existing id.
package struct NewMessage: Equatable, Sendable {
    package enum Ref: Equatable, Sendable {
        case id(Int64)
        case name(String)
    }
    package var channel: Ref
    package var user: Ref
    package var text: String
    package var sentAt: String?
    /// An import line's own idempotency key (`"key"`); POSTs carry one key for the request in a header instead.
    package var key: String?

    package init(channel: Ref, user: Ref, text: String, sentAt: String?, key: String? = nil) {
        self.channel = channel
        self.user = user
        self.text = text
        self.sentAt = sentAt
        self.key = key
    }
}

/// Validates a POST /api/messages body: one message object or an array of them. All-or-nothing: any bad item
/// rejects the whole request, naming the item and field. Items are numbered from 0 (`item 0: …`), as array indexes.
///
/// The body is parsed by `JSONValue` (strict RFC 8259, UTF-8 only, nesting up to `JSONValue.maxDepth`), not by
/// Foundation: with JSONSerialization and NSNumber/NSString bridging this took ~12 % of a worker's CPU on
/// one-message POSTs. Answers are JSONSerialization's (Tests/ProtocolTests/IngestParserDifferentialTests.swift
/// compares them) but where it was lax: a leading UTF-8 byte order mark is still skipped (RFC 8259 §8.1 lets a
/// parser ignore one), but trailing commas, UTF-16/UTF-32 bodies and nesting deeper than 64 are `invalid_json`; a raw
/// U+FEFF starting a string is kept, not dropped; and a number with a fraction is never an id, even when its Double
/// is whole (`1.0000000000000001`).
package enum IngestParser {
    package struct Failure: Error, Equatable {
        package var code: String
        package var message: String
    }

    static let maxNameBytes = 64
    static let maxTextBytes = 16 * 1024

    /// `allowKey` admits a per-message `"key"` (import lines); the API takes its key from a header.
    package static func parse(_ body: [UInt8], maxMessages: Int, allowKey: Bool = false) -> Result<[NewMessage], Failure> {
        guard !body.isEmpty else { return .failure(Failure(code: "invalid_json", message: "empty")) }
        var refusal: JSONParseError?
        let parsed = body.withUnsafeBufferPointer { all -> JSONValue? in
            let bom = all.count >= 3 && all[0] == 0xEF && all[1] == 0xBB && all[2] == 0xBF
            do throws(JSONParseError) {
                return try JSONValue.parse(UnsafeBufferPointer(rebasing: all[(bom ? 3 : 0)...]))
            } catch {
                refusal = JSONParseError(error.reason, at: error.offset + (bom ? 3 : 0))
                return nil
            }
        }
        // What and where, so a sender can find it (it once said only "not valid JSON", `1e400` included).
        guard let json = parsed else {
            // Bytes counted from 1, as editors count columns; an end too soon has no byte to point at.
            let detail = refusal.map {
                $0.reason == .unexpectedEnd ? ": \($0.phrase), after \($0.offset) bytes" : ": \($0.phrase) at byte \($0.offset + 1)"
            } ?? ""
            return .failure(Failure(code: "invalid_json", message: "not valid JSON" + detail))
        }
        let items: [JSONValue]
        let numbered: Bool
        if case .array(let array) = json {
            guard !array.isEmpty else { return .failure(Failure(code: "invalid_message", message: "the array is empty")) }
            guard array.count <= maxMessages else {
                return .failure(Failure(code: "too_many_messages", message: "at most \(maxMessages) messages per request"))
            }
            items = array
            numbered = true
        } else {
            items = [json]
            numbered = false
        }
        var out: [NewMessage] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            switch message(item, allowKey: allowKey) {
            case .success(let m): out.append(m)
            case .failure(let f):
                return .failure(Failure(code: "invalid_message", message: numbered ? "item \(i): \(f.message)" : f.message))
            }
        }
        return .success(out)
    }

    private static func invalid(_ message: String) -> Result<NewMessage, Failure> {
        .failure(Failure(code: "invalid_message", message: message))
    }

    /// One item; a failure's message is without the `item N: ` prefix.
    private static func message(_ item: JSONValue, allowKey: Bool) -> Result<NewMessage, Failure> {
        guard case .object(let object) = item else { return invalid("a message must be a JSON object") }
        // One pass picks the fields out and finds the unknown name that sorts first (String order, as the error
        // always named the first of the sorted names). Names are unique in a JSONObject.
        var channelValue: JSONValue?
        var userValue: JSONValue?
        var textValue: JSONValue?
        var sentAtValue: JSONValue?
        var keyValue: JSONValue?
        var unknown: String?
        for member in object.members {
            switch member.name {
            case "channel": channelValue = member.value
            case "user": userValue = member.value
            case "text": textValue = member.value
            case "sent_at": sentAtValue = member.value
            case "key" where allowKey: keyValue = member.value
            default: if unknown.map({ member.name < $0 }) ?? true { unknown = member.name }
            }
        }
        if let unknown { return invalid("unknown field \"\(unknown)\"") }
        guard let channel = ref(channelValue) else {
            return invalid("\"channel\" must be a name (1-\(maxNameBytes) bytes) or a positive id")
        }
        guard let user = ref(userValue) else {
            return invalid("\"user\" must be a name (1-\(maxNameBytes) bytes) or a positive id")
        }
        guard case .string(let text) = textValue else { return invalid("\"text\" is required and must be a string") }
        guard !text.isEmpty, text.utf8.count <= maxTextBytes else { return invalid("\"text\" must be 1-\(maxTextBytes) bytes") }
        var sentAt: String?
        if let raw = sentAtValue, raw != .null {
            guard case .string(let s) = raw, let ms = Timestamp.parse(s) else {
                return invalid("\"sent_at\" must be an RFC 3339 timestamp")
            }
            sentAt = Timestamp.format(unixMilliseconds: ms)
        }
        var key: String?
        if let raw = keyValue, raw != .null {
            guard case .string(let s) = raw, let valid = IdempotencyKey.validated(s) else {
                return invalid("\"key\" must be 1-\(IdempotencyKey.maxBytes) visible ASCII characters")
            }
            key = valid
        }
        return .success(NewMessage(channel: channel, user: user, text: text, sentAt: sentAt, key: key))
    }

    /// A name (a string, trimmed) or an id: a number whose exact value is whole, 1...9e15. `1.0` and `1e3` count;
    /// booleans do not, nor does `1.0000000000000001`, which JSONSerialization let through as 1 because its Double
    /// is 1.0 (and `4503599627370496.5` as 4503599627370497, rounding its NSDecimalNumber half up).
    private static func ref(_ value: JSONValue?) -> NewMessage.Ref? {
        switch value {
        case .string(let s):
            let name = trimmed(s)
            guard !name.isEmpty, name.utf8.count <= maxNameBytes, !name.unicodeScalars.contains(where: isControl)
            else { return nil }
            return .name(name)
        case .number(let n):
            guard let id = n.integer, id >= 1, id <= 9_000_000_000_000_000 else { return nil }
            return .id(id)
        default:
            return nil
        }
    }

    /// General category Cc: U+0000–U+001F and U+007F–U+009F (a set Unicode's stability policy fixes).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// `s.trimmingCharacters(in: .whitespacesAndNewlines)` without Foundation: leading and trailing scalars of
    /// that set are dropped (scalar by scalar, so a combining mark after a space keeps the mark, as Foundation did).
    package static func trimmed(_ s: String) -> String {
        let utf8 = s.utf8
        guard let first = utf8.first, let last = utf8.last else { return s }
        // Most names start and end with an ASCII letter or digit: nothing to trim.
        if first < 0x80 && last < 0x80 && !isWhitespaceOrNewline(UInt32(first)) && !isWhitespaceOrNewline(UInt32(last)) {
            return s
        }
        let scalars = s.unicodeScalars
        guard let lo = scalars.firstIndex(where: { !isWhitespaceOrNewline($0.value) }) else { return "" }
        let hi = scalars.lastIndex(where: { !isWhitespaceOrNewline($0.value) })!
        // Sliced as scalars: a String slice would round indexes to Character boundaries.
        return String(scalars[lo...hi])
    }

    /// `CharacterSet.whitespacesAndNewlines` as Foundation on this machine has it (Swift 6.3.1, every scalar
    /// probed): U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000–U+200B (ZERO WIDTH SPACE included, though
    /// Unicode no longer calls it a space), U+2028, U+2029, U+202F, U+205F, U+3000.
    package static func isWhitespaceOrNewline(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }
}
