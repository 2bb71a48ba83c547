/// A JSON value as `JSONValue.parse` reads it: strict RFC 8259 over UTF-8 bytes, without Foundation. Written for
/// the ingest validator (`IngestParser`), which took ~12 % of a worker's CPU on one-message POSTs when it went
/// through JSONSerialization and NSNumber/NSString bridging; not a general JSON library.
package enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A JSON number: its nearest Double, and its exact value when it is a whole number of modest size.
///
/// `double` is correctly rounded (`9007199254740993` is 9007199254740992, `1e-400` is 0); a number whose magnitude
/// overflows a Double (`1e400`) is refused, as JSONSerialization refused it. `integer` is exact: `2`, `-0`, `1.0`,
/// `1e3` and `0.25e2` are whole (2, 0, 1, 1000, 25); `1.5` and `1.0000000000000001` are not (nil), though the
/// latter's Double is 1.0, and neither is anything of 10^18 or more in magnitude (nil).
package struct JSONNumber: Equatable, Sendable {
    package var double: Double
    package var integer: Int64?

    package init(_ double: Double, integer: Int64?) {
        self.double = double
        self.integer = integer
    }

    /// A whole number written as one: `integer` and `double` both from `n`.
    package init(_ n: Int64) { self.init(Double(n), integer: n) }
}

/// A JSON object's members in the order their names first appear.
///
/// Duplicate names: the last value wins, kept at the first name's place and spelling. That is what Foundation's
/// JSONSerialization does on this machine (swift-corelibs-foundation with Swift 6.3.1, probed): `{"a":1,"a":2}`
/// gives a=2, and names are one when they are equal as Swift Strings, i.e. canonically equivalent, so
/// `{"\u212a":1,"K":2}` (KELVIN SIGN, then K) is one member named "\u{212A}" whose value is 2.
package struct JSONObject: Equatable, Sendable {
    package struct Member: Equatable, Sendable {
        package var name: String
        package var value: JSONValue

        package init(_ name: String, _ value: JSONValue) {
            self.name = name
            self.value = value
        }
    }

    /// Equality compares members in order.
    package private(set) var members: [Member]

    /// Members given in order, duplicate names folded as the parser folds them.
    package init(_ members: [Member] = []) {
        self.members = []
        for m in members { self[m.name] = m.value }
    }

    init(folded members: [Member]) { self.members = members }

    package var count: Int { members.count }

    /// The member's value; setting one that exists replaces its value in place.
    package subscript(name: String) -> JSONValue? {
        get {
            for m in members where m.name == name { return m.value }
            return nil
        }
        set {
            if let k = members.firstIndex(where: { $0.name == name }) {
                if let newValue { members[k].value = newValue } else { members.remove(at: k) }
            } else if let newValue {
                members.append(Member(name, newValue))
            }
        }
    }
}

/// Why a text is not JSON, and the byte offset where that was found.
package struct JSONParseError: Error, Equatable, Sendable {
    package enum Reason: Equatable, Sendable {
        /// The input ends inside a value (or is empty, or only whitespace).
        case unexpectedEnd
        /// A byte that cannot start or continue anything here (`+1`, `.5`, `[1,]`, `{'a':1}`, `trux`, `[01]`, …).
        case unexpectedByte
        /// A number against the RFC 8259 grammar: `-a`, `--1`, `1.e5`, `1ea`. (`01` is a `0` followed by trailing
        /// data or an unexpected byte; `1.` and `1e` at the end of the input are an unexpected end.)
        case invalidNumber
        /// A number whose magnitude overflows a Double (`1e400`).
        case numberOutOfRange
        /// A backslash escape other than \" \\ \/ \b \f \n \r \t \uXXXX.
        case invalidEscape
        /// A `\uD800`–`\uDFFF` escape that is not a high surrogate directly followed by a low one.
        case invalidSurrogate
        /// A raw byte below 0x20 inside a string.
        case controlCharacter
        /// A string holding bytes that are not UTF-8 (overlong forms, encoded surrogates, past U+10FFFF, cut short).
        case invalidUTF8
        /// Arrays and objects nested deeper than `JSONValue.maxDepth`.
        case tooDeep
        /// Anything but whitespace after the value (`1 2`, `{}}`, `[1] x`, `01`).
        case trailingData
    }

    package var reason: Reason
    package var offset: Int

    /// What is wrong, for the person who sent it.
    package var phrase: String {
        switch reason {
        case .unexpectedEnd: "it ends inside a value"
        case .unexpectedByte: "an unexpected character"
        case .invalidNumber: "a malformed number"
        case .numberOutOfRange: "a number too large for a double"
        case .invalidEscape: "an unknown backslash escape"
        case .invalidSurrogate: "an unpaired \\u surrogate escape"
        case .controlCharacter: "a raw control character in a string (escape it)"
        case .invalidUTF8: "bytes that are not UTF-8"
        case .tooDeep: "nesting deeper than \(JSONValue.maxDepth)"
        case .trailingData: "more after the value"
        }
    }

    package init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }
}

extension JSONValue {
    /// The deepest nesting of arrays and objects accepted: `[[1]]` is 2. A message is at most 2 deep (an array
    /// of objects holding scalars); the limit bounds the parser's recursion, whatever a body holds.
    package static let maxDepth = 64

    /// Parses one JSON text: optional whitespace (space, tab, CR, LF), one value, optional whitespace. Any scalar
    /// may be the value (RFC 8259 has no "fragments" distinction). No byte order mark: callers that tolerate one
    /// skip it first.
    package static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in try parse(buffer) }
    }

    package static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        var reader = JSONReader(bytes)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.at == bytes.count else { throw JSONParseError(.trailingData, at: reader.at) }
        return value
    }
}
