/// The media type of a `Content-Type` value (RFC 9110 section 8.3.1): `type "/" subtype *( OWS ";" OWS parameter )`,
/// compared case-insensitively without its parameters.
package enum MediaType {
    /// Whether `value` names exactly `application/json`, with any parameters (`; charset=utf-8`). No value, another
    /// type and lookalikes such as `application/jsonx` or `application/json-seq` are not JSON.
    package static func isJSON(_ value: String?) -> Bool {
        guard let value else { return false }
        let essence = value.utf8.prefix { $0 != UInt8(ascii: ";") }
        let trimmed = essence.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }
        let expected = Array("application/json".utf8).reversed()
        guard trimmed.count == expected.count else { return false }
        return zip(trimmed, expected).allSatisfy { a, b in
            (a >= 0x41 && a <= 0x5A ? a | 0x20 : a) == b
        }
    }
}
