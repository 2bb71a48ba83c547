/// The reader behind `JSONValue.parse`: recursive descent over UTF-8 bytes, strict RFC 8259 (see `JSONValue` for
/// what it accepts and `JSONParseError` for what it refuses). Recursion is bounded by `JSONValue.maxDepth` (two
/// frames per level).
struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    let end: Int
    var at = 0
    /// The decoded UTF-8 of a string that holds escapes, reused from string to string.
    var scratch: [UInt8] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        end = bytes.count
    }

    func fail(_ reason: JSONParseError.Reason) -> JSONParseError { JSONParseError(reason, at: at) }

    /// RFC 8259 whitespace only: no form feed, vertical tab, NBSP or other Unicode spaces.
    mutating func skipWhitespace() {
        while at < end {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard at < end else { throw fail(.unexpectedEnd) }
        switch bytes[at] {
        case UInt8(ascii: "{"): return .object(try object(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try array(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail(.unexpectedByte)
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: count)
        for k in 0..<count {
            guard at < end else { throw fail(.unexpectedEnd) }
            guard bytes[at] == expected[k] else { throw fail(.unexpectedByte) }
            at += 1
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> [JSONValue] {
        guard depth <= JSONValue.maxDepth else { throw fail(.tooDeep) }
        at += 1  // [
        skipWhitespace()
        if at < end && bytes[at] == UInt8(ascii: "]") {
            at += 1
            return []
        }
        var elements: [JSONValue] = []
        elements.reserveCapacity(4)
        while true {
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard at < end else { throw fail(.unexpectedEnd) }
            switch bytes[at] {
            case UInt8(ascii: ","):
                at += 1
                skipWhitespace()  // a value must follow: `[1,]` fails in value()
            case UInt8(ascii: "]"):
                at += 1
                return elements
            default: throw fail(.unexpectedByte)
            }
        }
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSONObject {
        guard depth <= JSONValue.maxDepth else { throw fail(.tooDeep) }
        at += 1  // {
        skipWhitespace()
        if at < end && bytes[at] == UInt8(ascii: "}") {
            at += 1
            return JSONObject(folded: [])
        }
        // A message has 3 to 5 fields: one allocation instead of growing 1, 2, 4, 8.
        var members: [JSONObject.Member] = []
        members.reserveCapacity(8)
        // Duplicate names are found by a linear scan while the object is small, then by a dictionary, so a body
        // of many thousand names costs linear time, not quadratic.
        var index: [String: Int]?
        while true {
            guard at < end else { throw fail(.unexpectedEnd) }
            guard bytes[at] == UInt8(ascii: "\"") else { throw fail(.unexpectedByte) }  // also `{"a":1,}`
            let name = try string()
            skipWhitespace()
            guard at < end else { throw fail(.unexpectedEnd) }
            guard bytes[at] == UInt8(ascii: ":") else { throw fail(.unexpectedByte) }
            at += 1
            skipWhitespace()
            let v = try value(depth: depth)
            if index != nil {
                if let k = index![name] {
                    members[k].value = v
                } else {
                    index![name] = members.count
                    members.append(JSONObject.Member(name, v))
                }
            } else if let k = members.firstIndex(where: { $0.name == name }) {
                members[k].value = v
            } else {
                members.append(JSONObject.Member(name, v))
                if members.count == 16 {
                    index = Dictionary(uniqueKeysWithValues: members.indices.lazy.map { (members[$0].name, $0) })
                }
            }
            skipWhitespace()
            guard at < end else { throw fail(.unexpectedEnd) }
            switch bytes[at] {
            case UInt8(ascii: ","):
                at += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                at += 1
                return JSONObject(folded: members)
            default: throw fail(.unexpectedByte)
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, then its value.
    mutating func number() throws(JSONParseError) -> JSONNumber {
        let start = at
        let negative = bytes[at] == UInt8(ascii: "-")
        if negative { at += 1 }
        guard at < end, isDigit(bytes[at]) else { throw fail(at < end ? .invalidNumber : .unexpectedEnd) }
        let intStart = at
        if bytes[at] == UInt8(ascii: "0") {
            at += 1  // a leading zero stands alone: `01` ends the number after `0` and fails in the caller
        } else {
            repeat { at += 1 } while at < end && isDigit(bytes[at])
        }
        let intEnd = at
        var fraction = at..<at
        var exponent = 0
        var plain = true
        if at < end && bytes[at] == UInt8(ascii: ".") {
            plain = false
            at += 1
            let from = at
            try digits()
            fraction = from..<at
        }
        if at < end && (bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E")) {
            plain = false
            at += 1
            var sign = 1
            if at < end && (bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-")) {
                if bytes[at] == UInt8(ascii: "-") { sign = -1 }
                at += 1
            }
            let from = at
            try digits()
            // Saturated far beyond the length of any input, so exactInteger still sees a difference the digits
            // could make up for, and nothing overflows.
            for k in from..<at { exponent = min(exponent * 10 + Int(bytes[k] &- UInt8(ascii: "0")), 1 << 40) }
            exponent *= sign
        }
        // The common case, an id: up to 18 digits are summed exactly, and Double(Int64) rounds to nearest as the
        // decimal conversion does.
        if plain && intEnd - intStart <= 18 {
            var whole: Int64 = 0
            for k in intStart..<intEnd { whole = whole * 10 + Int64(bytes[k] &- UInt8(ascii: "0")) }
            if negative && whole == 0 { return JSONNumber(-0.0, integer: 0) }
            return JSONNumber(negative ? -whole : whole)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        guard let d = Double(text) else { throw JSONParseError(.invalidNumber, at: start) }
        guard d.isFinite else { throw JSONParseError(.numberOutOfRange, at: start) }
        return JSONNumber(d, integer: exactInteger(negative: negative, int: intStart..<intEnd, fraction: fraction, exponent: exponent))
    }

    /// The number's exact value if it is whole and below 10^18 in magnitude. Its digits (integer part, then
    /// fraction) times 10^(exponent - fraction digits): without leading and trailing zeros, whole when the
    /// trailing zeros and the exponent make up for the fraction digits.
    func exactInteger(negative: Bool, int: Range<Int>, fraction: Range<Int>, exponent: Int) -> Int64? {
        let count = int.count + fraction.count
        func digit(_ k: Int) -> Int64 {
            Int64(bytes[k < int.count ? int.lowerBound + k : fraction.lowerBound + k - int.count] &- UInt8(ascii: "0"))
        }
        var first = 0
        while first < count && digit(first) == 0 { first += 1 }
        if first == count { return 0 }
        var last = count
        while digit(last - 1) == 0 { last -= 1 }
        let scale = exponent - fraction.count + (count - last)
        guard scale >= 0, last - first + scale <= 18 else { return nil }
        var v: Int64 = 0
        for k in first..<last { v = v * 10 + digit(k) }
        for _ in 0..<scale { v *= 10 }
        return negative ? -v : v
    }

    /// One or more digits (after `.`, and in an exponent).
    mutating func digits() throws(JSONParseError) {
        guard at < end else { throw fail(.unexpectedEnd) }
        guard isDigit(bytes[at]) else { throw fail(.invalidNumber) }
        repeat { at += 1 } while at < end && isDigit(bytes[at])
    }

    func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }

    /// A string from its opening quote. Without escapes its bytes are the String's; with escapes it is decoded into
    /// `scratch`. Raw text is checked as UTF-8 a run at a time (`rawRun`).
    mutating func string() throws(JSONParseError) -> String {
        at += 1  // "
        let run = try rawRun()
        guard at < end else { throw fail(.unexpectedEnd) }
        switch bytes[at] {
        case UInt8(ascii: "\\"):
            return try escapedString(from: run.lowerBound)
        case UInt8(ascii: "\""):
            at += 1
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[run]), as: UTF8.self)
        default:
            throw fail(.controlCharacter)
        }
    }

    mutating func escapedString(from start: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<at]))
        while at < end {
            let c = bytes[at]
            if c == UInt8(ascii: "\"") {
                at += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if c == UInt8(ascii: "\\") {
                at += 1
                guard at < end else { throw fail(.unexpectedEnd) }
                let e = bytes[at]
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(e)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    at -= 1  // back to the backslash: unicodeEscape reads `\uXXXX` whole
                    appendUTF8(try unicodeEscape())
                    continue
                default: throw fail(.invalidEscape)
                }
                at += 1
            } else if c < 0x20 {
                throw fail(.controlCharacter)
            } else {
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[try rawRun()]))
            }
        }
        throw fail(.unexpectedEnd)
    }

    /// Steps over raw string text from `at` to the next quote, backslash or control byte, or the end. Those are
    /// ASCII, which never occurs inside a well-formed multi-byte sequence, so the run is checked whole by the
    /// validator WebSocket text frames use (Unicode's table 3-7: no stray continuation bytes, overlong forms,
    /// encoded surrogates or values past U+10FFFF, nothing cut short).
    mutating func rawRun() throws(JSONParseError) -> Range<Int> {
        let from = at
        while at < end {
            let c = bytes[at]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 { break }
            at += 1
        }
        var utf8 = UTF8StreamValidator()
        guard utf8.validate(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[from..<at]))), utf8.isAtBoundary
        else { throw JSONParseError(.invalidUTF8, at: from) }
        return from..<at
    }

    /// `\uXXXX` at `at` (the backslash), or a surrogate pair `\uD83D\uDE00`, as a scalar value.
    mutating func unicodeEscape() throws(JSONParseError) -> UInt32 {
        let first = try hexEscape()
        switch first {
        case 0xD800...0xDBFF:
            let pairAt = at
            guard at < end else { throw fail(.unexpectedEnd) }
            guard bytes[at] == UInt8(ascii: "\\") else { throw fail(.invalidSurrogate) }
            guard at + 1 < end else { throw fail(.unexpectedEnd) }
            guard bytes[at + 1] == UInt8(ascii: "u") else { throw fail(.invalidSurrogate) }
            let second = try hexEscape()
            guard (0xDC00...0xDFFF).contains(second) else { throw JSONParseError(.invalidSurrogate, at: pairAt) }
            return 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        case 0xDC00...0xDFFF:
            throw JSONParseError(.invalidSurrogate, at: at - 6)
        default:
            return first
        }
    }

    /// The four hex digits of a `\uXXXX` at `at` (the backslash, known to be followed by `u`).
    mutating func hexEscape() throws(JSONParseError) -> UInt32 {
        at += 2
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard at < end else { throw fail(.unexpectedEnd) }
            let c = bytes[at]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw fail(.invalidEscape)
            }
            v = v << 4 | UInt32(digit)
            at += 1
        }
        return v
    }

    mutating func appendUTF8(_ v: UInt32) {
        switch v {
        case 0..<0x80:
            scratch.append(UInt8(v))
        case 0x80..<0x800:
            scratch.append(0xC0 | UInt8(v >> 6))
            scratch.append(0x80 | UInt8(v & 0x3F))
        case 0x800..<0x10000:
            scratch.append(0xE0 | UInt8(v >> 12))
            scratch.append(0x80 | UInt8(v >> 6 & 0x3F))
            scratch.append(0x80 | UInt8(v & 0x3F))
        default:
            scratch.append(0xF0 | UInt8(v >> 18))
            scratch.append(0x80 | UInt8(v >> 12 & 0x3F))
            scratch.append(0x80 | UInt8(v >> 6 & 0x3F))
            scratch.append(0x80 | UInt8(v & 0x3F))
        }
    }
}
