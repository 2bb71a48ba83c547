import Foundation

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
package enum IngestParser {
    package struct Failure: Error, Equatable {
        package var code: String
        package var message: String
    }

    static let maxNameBytes = 64
    static let maxTextBytes = 16 * 1024
    static let allowedKeys: Set<String> = ["channel", "user", "text", "sent_at"]

    /// `allowKey` admits a per-message `"key"` (import lines); the API takes its key from a header.
    package static func parse(_ body: [UInt8], maxMessages: Int, allowKey: Bool = false) -> Result<[NewMessage], Failure> {
        guard !body.isEmpty else { return .failure(Failure(code: "invalid_json", message: "empty")) }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        } catch {
            return .failure(Failure(code: "invalid_json", message: "not valid JSON"))
        }
        let items: [Any]
        if let array = json as? [Any] {
            guard !array.isEmpty else { return .failure(Failure(code: "invalid_message", message: "the array is empty")) }
            guard array.count <= maxMessages else {
                return .failure(Failure(code: "too_many_messages", message: "at most \(maxMessages) messages per request"))
            }
            items = array
        } else {
            items = [json]
        }
        var out: [NewMessage] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            let at = items.count > 1 || json is [Any] ? "item \(i): " : ""
            guard let object = item as? [String: Any] else {
                return .failure(Failure(code: "invalid_message", message: "\(at)a message must be a JSON object"))
            }
            if let unknown = object.keys.sorted().first(where: { !allowedKeys.contains($0) && !(allowKey && $0 == "key") }) {
                return .failure(Failure(code: "invalid_message", message: "\(at)unknown field \"\(unknown)\""))
            }
            guard let channel = ref(object["channel"]) else {
                return .failure(Failure(code: "invalid_message", message: "\(at)\"channel\" must be a name (1-\(maxNameBytes) bytes) or a positive id"))
            }
            guard let user = ref(object["user"]) else {
                return .failure(Failure(code: "invalid_message", message: "\(at)\"user\" must be a name (1-\(maxNameBytes) bytes) or a positive id"))
            }
            guard let text = object["text"] as? String, !(object["text"] is NSNumber) else {
                return .failure(Failure(code: "invalid_message", message: "\(at)\"text\" is required and must be a string"))
            }
            guard !text.isEmpty, text.utf8.count <= maxTextBytes else {
                return .failure(Failure(code: "invalid_message", message: "\(at)\"text\" must be 1-\(maxTextBytes) bytes"))
            }
            var sentAt: String?
            if let raw = object["sent_at"], !(raw is NSNull) {
                guard let s = raw as? String, let ms = Timestamp.parse(s) else {
                    return .failure(Failure(code: "invalid_message", message: "\(at)\"sent_at\" must be an RFC 3339 timestamp"))
                }
                sentAt = Timestamp.format(unixMilliseconds: ms)
            }
            var key: String?
            if allowKey, let raw = object["key"], !(raw is NSNull) {
                guard let s = raw as? String, let valid = IdempotencyKey.validated(s) else {
                    return .failure(Failure(code: "invalid_message", message: "\(at)\"key\" must be 1-\(IdempotencyKey.maxBytes) visible ASCII characters"))
                }
                key = valid
            }
            out.append(NewMessage(channel: channel, user: user, text: text, sentAt: sentAt, key: key))
        }
        return .success(out)
    }

    private static func ref(_ value: Any?) -> NewMessage.Ref? {
        switch value {
        case let s as String:
            let name = s.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, name.utf8.count <= maxNameBytes,
                !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { return nil }
            return .name(name)
        case let n as NSNumber:
            // JSON booleans also arrive as NSNumber; only a whole positive number is an id.
            guard String(cString: n.objCType) != "c" else { return nil }  // Foundation encodes Bool as 'c'
            let d = n.doubleValue
            guard d >= 1, d <= 9.0e15, d.rounded() == d else { return nil }
            return .id(Int64(d))
        default:
            return nil
        }
    }
}
