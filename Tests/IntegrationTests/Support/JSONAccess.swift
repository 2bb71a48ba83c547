import Foundation

/// Typed reads from JSONSerialization output. Numbers arrive as NSNumber on Linux; these accept Int, NSNumber,
/// whole Doubles and (for log fields) decimal strings, so a test asserts on values rather than on bridging.
extension Dictionary where Key == String, Value == Any {
    func int(_ key: String) -> Int? { jsonInt(self[key]) }
    func string(_ key: String) -> String? { self[key] as? String }
    func bool(_ key: String) -> Bool? { self[key] as? Bool }
    func object(_ key: String) -> [String: Any]? { self[key] as? [String: Any] }
    func objects(_ key: String) -> [[String: Any]]? { self[key] as? [[String: Any]] }

    /// Compact JSON text of the dictionary, for failure messages.
    var jsonText: String {
        guard JSONSerialization.isValidJSONObject(self),
            let data = try? JSONSerialization.data(withJSONObject: self, options: [.sortedKeys])
        else { return "\(self)" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// An integer from a JSON value, if it is one (or a decimal string of one).
func jsonInt(_ value: Any?) -> Int? {
    switch value {
    case let number as Int: number
    case let number as NSNumber:
        Double(number.int64Value) == number.doubleValue ? Int(number.int64Value) : nil
    case let number as Double: number.rounded() == number ? Int(number) : nil
    case let text as String: Int(text)
    default: nil
    }
}
