/// Byte classes and ASCII helpers shared by the HTTP parsers and encoders (RFC 9110 §5.6, RFC 9112 §2).
///
/// Stateless; every member is a pure function of its arguments.
package enum HTTPSyntax {
    package static let cr = UInt8(ascii: "\r")
    package static let lf = UInt8(ascii: "\n")
    package static let space = UInt8(ascii: " ")
    package static let tab = UInt8(ascii: "\t")
    package static let colon = UInt8(ascii: ":")
    package static let comma = UInt8(ascii: ",")

    /// `tchar` from RFC 9110 §5.6.2, indexed by byte value.
    private static let tokenTable: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for byte in "!#$%&'*+-.^_`|~".utf8 { table[Int(byte)] = true }
        return table
    }()

    /// Whether `byte` may appear in a token (methods, field names, transfer codings).
    @inline(__always)
    package static func isTokenByte(_ byte: UInt8) -> Bool {
        tokenTable[Int(byte)]
    }

    /// Whether `text` is a non-empty token.
    package static func isToken(_ text: some StringProtocol) -> Bool {
        !text.utf8.isEmpty && text.utf8.allSatisfy(isTokenByte)
    }

    /// Whether `byte` is allowed inside a field value: VCHAR, obs-text, SP or HT (RFC 9110 §5.5).
    @inline(__always)
    package static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == tab || (byte >= space && byte != 0x7F)
    }

    /// Whether `byte` may appear in a request-target as sent on the wire: visible ASCII except "#".
    ///
    /// Stricter RFC 3986 classes would refuse characters such as `|` or `^` that browsers send unescaped.
    @inline(__always)
    package static func isTargetByte(_ byte: UInt8) -> Bool {
        byte > space && byte < 0x7F && byte != UInt8(ascii: "#")
    }

    @inline(__always)
    package static func lowercasedASCII(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// ASCII case-insensitive equality, as used for field names and tokens.
    package static func equalsIgnoringCase(_ lhs: some StringProtocol, _ rhs: some StringProtocol) -> Bool {
        let left = lhs.utf8
        let right = rhs.utf8
        guard left.count == right.count else { return false }
        return zip(left, right).allSatisfy { lowercasedASCII($0) == lowercasedASCII($1) }
    }

    /// The same for two Strings, on their UTF-8 storage: field names are compared several times per request.
    package static func equalsIgnoringCase(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var left = lhs
        var right = rhs
        return left.withUTF8 { a in
            right.withUTF8 { b in
                for i in 0..<a.count where lowercasedASCII(a[i]) != lowercasedASCII(b[i]) { return false }
                return true
            }
        }
    }

    /// Whether the comma-separated list `value` has an element equal to `token` (ASCII case-insensitive, each
    /// element trimmed of SP / HT), without splitting it.
    package static func listContains(_ value: String, token: String) -> Bool {
        var value = value
        var token = token
        return value.withUTF8 { v in
            token.withUTF8 { t in
                var start = 0
                while start <= v.count {
                    var end = start
                    while end < v.count && v[end] != comma { end += 1 }
                    var a = start
                    var b = end
                    while a < b && (v[a] == space || v[a] == tab) { a += 1 }
                    while b > a && (v[b - 1] == space || v[b - 1] == tab) { b -= 1 }
                    if b - a == t.count && !t.isEmpty {
                        var same = true
                        for i in 0..<t.count where lowercasedASCII(v[a + i]) != lowercasedASCII(t[i]) {
                            same = false
                            break
                        }
                        if same { return true }
                    }
                    start = end + 1
                }
                return false
            }
        }
    }

    /// `text` without leading and trailing optional whitespace (SP / HT).
    package static func trimmingWhitespace(_ text: Substring) -> Substring {
        let utf8 = text.utf8
        guard let first = utf8.firstIndex(where: { $0 != space && $0 != tab }) else {
            return text[text.endIndex...]
        }
        let last = utf8.lastIndex(where: { $0 != space && $0 != tab })!
        return text[first...last]
    }

    /// Elements of a comma-separated list field value, whitespace-trimmed, empty elements dropped
    /// (RFC 9110 §5.6.1 asks recipients to ignore them).
    package static func listElements(_ value: String) -> [Substring] {
        var elements: [Substring] = []
        var start = value.startIndex
        let utf8 = value.utf8
        var index = utf8.startIndex
        while true {
            if index == utf8.endIndex || utf8[index] == comma {
                let element = trimmingWhitespace(value[start..<index])
                if !element.isEmpty { elements.append(element) }
                if index == utf8.endIndex { break }
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        return elements
    }

    /// Decodes field-value bytes: UTF-8 when valid, otherwise ISO-8859-1 so that obs-text keeps every byte.
    package static func decodeFieldValue(_ bytes: ArraySlice<UInt8>) -> String {
        if let text = String.ifValidUTF8(bytes) { return text }
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(Unicode.Scalar(byte)) }
        return String(scalars)
    }
}
