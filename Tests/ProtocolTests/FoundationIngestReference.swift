import Foundation
import LivefeedProtocol

/// The Foundation-based IngestParser as it was before JSONValue replaced it (commit fe0ed83), unchanged but for
/// its name and its own Failure type: the reference for the differential test.
enum FoundationIngestReference {
    struct Failure: Error, Equatable {
        var code: String
        var message: String
    }

    static let maxNameBytes = 64
    static let maxTextBytes = 16 * 1024
    static let allowedKeys: Set<String> = ["channel", "user", "text", "sent_at"]

    static func parse(_ body: [UInt8], maxMessages: Int, allowKey: Bool = false) -> Result<[NewMessage], Failure> {
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
            guard String(cString: n.objCType) != "c" else { return nil }
            let d = n.doubleValue
            guard d >= 1, d <= 9.0e15, d.rounded() == d else { return nil }
            return .id(Int64(d))
        default:
            return nil
        }
    }
}
