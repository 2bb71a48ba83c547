/// Header fields in the order they were received or added, duplicates kept.
///
/// Names are looked up ASCII case-insensitively (RFC 9110 §5.1); values are stored as received, without the
/// surrounding whitespace. Two collections are equal when they hold the same fields in the same order, names
/// compared case-insensitively and values exactly.
package struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    package typealias Field = (name: String, value: String)

    private var fields: [Field]

    package init(_ pairs: [(name: String, value: String)] = []) {
        fields = pairs
    }

    /// Keeps the literal's order and duplicates: `["Accept": "a", "Accept": "b"]` holds two fields.
    package init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    package var count: Int { fields.count }

    package var isEmpty: Bool { fields.isEmpty }

    /// The first value of the field called `name`.
    package subscript(_ name: String) -> String? {
        fields.first { HTTPSyntax.equalsIgnoringCase($0.name, name) }?.value
    }

    /// Every value of the field called `name`, in order.
    package func values(_ name: String) -> [String] {
        fields.compactMap { HTTPSyntax.equalsIgnoringCase($0.name, name) ? $0.value : nil }
    }

    package func contains(_ name: String) -> Bool {
        fields.contains { HTTPSyntax.equalsIgnoringCase($0.name, name) }
    }

    /// Comma-separated token lists, case-insensitive (e.g. Connection: keep-alive, Upgrade).
    ///
    /// Every field line called `name` is searched, since a list may be split over several lines.
    package func containsToken(_ token: String, in name: String) -> Bool {
        fields.contains { field in
            HTTPSyntax.equalsIgnoringCase(field.name, name) && HTTPSyntax.listContains(field.value, token: token)
        }
    }

    package mutating func reserveCapacity(_ n: Int) {
        fields.reserveCapacity(n)
    }

    package mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Removes every field called `name`.
    package mutating func remove(_ name: String) {
        fields.removeAll { HTTPSyntax.equalsIgnoringCase($0.name, name) }
    }

    /// Replaces every field called `name` by one field with `value`, at the position of the first one.
    package mutating func set(_ name: String, _ value: String) {
        var replaced = false
        fields = fields.compactMap { field in
            guard HTTPSyntax.equalsIgnoringCase(field.name, name) else { return field }
            guard !replaced else { return nil }
            replaced = true
            return (name: field.name, value: value)
        }
        if !replaced { add(name, value) }
    }

    package func makeIterator() -> IndexingIterator<[Field]> {
        fields.makeIterator()
    }

    package static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { left, right in
                left.value == right.value && HTTPSyntax.equalsIgnoringCase(left.name, right.name)
            }
    }
}
