/// Query-string / form decoding helpers (pure).
///
/// Follows `application/x-www-form-urlencoded` (WHATWG URL §5.1) except that malformed percent-escapes,
/// decoded NUL bytes and decoded bytes that are not UTF-8 are errors instead of being passed through or
/// replaced: every caller here would rather refuse the request than act on a guessed value.
package enum URLQuery {
    /// Splits `query` (the part after "?", without it) on "&" into percent-decoded pairs, "+" meaning space.
    ///
    /// Empty pieces (`a=1&&b=2`) are skipped, a piece without "=" has an empty value, names may repeat.
    /// `nil` when a piece does not decode or there are more than `maxPairs` pairs.
    package static func parse(_ query: Substring, maxPairs: Int = 64) -> [(name: String, value: String)]? {
        var pairs: [(name: String, value: String)] = []
        let utf8 = query.utf8
        var start = utf8.startIndex
        var index = start
        while true {
            if index == utf8.endIndex || utf8[index] == UInt8(ascii: "&") {
                if start < index {
                    guard pairs.count < maxPairs, let pair = decodePair(query[start..<index]) else { return nil }
                    pairs.append(pair)
                }
                if index == utf8.endIndex { return pairs }
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
    }

    /// Decodes `%XX` escapes (either case of hex digit) and, if `plusAsSpace`, "+" as space.
    ///
    /// `nil` when a "%" is not followed by two hex digits, or the result holds NUL or is not UTF-8.
    package static func percentDecode(_ s: Substring, plusAsSpace: Bool) -> String? {
        let utf8 = s.utf8
        let needsWork = utf8.contains { byte in
            byte == UInt8(ascii: "%") || byte == 0 || (plusAsSpace && byte == UInt8(ascii: "+"))
        }
        guard needsWork else { return String(s) }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            index = utf8.index(after: index)
            switch byte {
            case UInt8(ascii: "%"):
                guard index != utf8.endIndex, let high = hexValue(utf8[index]) else { return nil }
                index = utf8.index(after: index)
                guard index != utf8.endIndex, let low = hexValue(utf8[index]) else { return nil }
                index = utf8.index(after: index)
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusAsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        // A NUL would truncate the value at the first C API it reaches (SQLite, syscalls).
        guard !bytes.contains(0) else { return nil }
        return String.ifValidUTF8(bytes)
    }

    private static func decodePair(_ piece: Substring) -> (name: String, value: String)? {
        let equals = piece.utf8.firstIndex(of: UInt8(ascii: "=")) ?? piece.endIndex
        guard let name = percentDecode(piece[..<equals], plusAsSpace: true) else { return nil }
        let valueStart = equals == piece.endIndex ? equals : piece.utf8.index(after: equals)
        guard let value = percentDecode(piece[valueStart...], plusAsSpace: true) else { return nil }
        return (name: name, value: value)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
