import LivefeedProtocol
import Testing

/// The strict RFC 8259 parser behind IngestParser: grammar edge cases, escapes, UTF-8, limits.
@Suite struct JSONValueTests {
    func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    func reason(_ bytes: [UInt8]) -> JSONParseError.Reason? {
        do {
            _ = try JSONValue.parse(bytes)
            return nil
        } catch {
            return error.reason
        }
    }

    func reason(_ text: String) -> JSONParseError.Reason? { reason(Array(text.utf8)) }

    // MARK: numbers

    /// Each number's Double (correctly rounded) and its exact integer value when it is whole (nil otherwise).
    @Test(arguments: [
        ("0", 0.0, 0), ("-0", -0.0, 0), ("2", 2, 2), ("-17", -17, -17), ("1.0", 1, 1), ("1e3", 1000, 1000),
        ("1E3", 1000, 1000), ("1e+3", 1000, 1000), ("1e-3", 0.001, nil), ("-0.0", -0.0, 0), ("0e0", 0, 0), ("1E-0", 1, 1),
        ("0.1e-2", 0.001, nil), ("123.456", 123.456, nil), ("1.5", 1.5, nil), ("0.25e2", 25, 25), ("10e-1", 1, 1),
        ("2500e-2", 25, 25), ("2501e-2", 25.01, nil), ("9e15", 9e15, 9_000_000_000_000_000), ("-4.20e1", -42, -42),
        ("9007199254740993", 9007199254740992, 9_007_199_254_740_993),
        ("123456789012345678", Double(Int64(123456789012345678)), 123_456_789_012_345_678),
        ("-123456789012345678", Double(Int64(-123456789012345678)), -123_456_789_012_345_678),
        ("999999999999999999", Double(Int64(999999999999999999)), 999_999_999_999_999_999),
        ("1000000000000000000", 1e18, nil), ("1e18", 1e18, nil), ("1e17", 1e17, 100_000_000_000_000_000),
        ("12345678901234567890", Double(UInt64(12345678901234567890)), nil),
        ("1.0000000000000001", 1, nil), ("9000000000000000.5", 9e15, nil), ("4503599627370496.5", 4503599627370496, nil),
        ("2.9999999999999999", 3, nil), ("0.0000000000000000000001e22", 1, 1), ("10000000000000000000000e-22", 1, 1),
        ("000", .nan, nil), ("1e-400", 0, nil), ("0e-400", 0, 0), ("0.000e99999999999999999999", 0, 0),
        ("1e-99999999999999999999", 0, nil), ("4.9e-324", Double.leastNonzeroMagnitude, nil),
        ("1.7976931348623157e308", 1.7976931348623157e308, nil), ("-1.7976931348623158e308", -1.7976931348623157e308, nil),
    ] as [(String, Double, Int64?)])
    func numbers(_ text: String, _ double: Double, _ integer: Int64?) throws {
        guard !double.isNaN else {
            #expect(reason(text) != nil, "\(text) is not a number")
            return
        }
        let value = try parse(text)
        guard case .number(let n) = value else {
            Issue.record("\(text): \(value)")
            return
        }
        #expect(n.double == double, "\(text)")
        #expect(n.double.sign == double.sign, "sign of \(text)")
        #expect(n.integer == integer, "\(text)")
    }

    @Test(arguments: [
        ("01", JSONParseError.Reason.trailingData), ("-01", .trailingData), ("00", .trailingData), ("+1", .unexpectedByte),
        (".5", .unexpectedByte), ("1.", .unexpectedEnd), ("1.e5", .invalidNumber), ("1e", .unexpectedEnd),
        ("1e+", .unexpectedEnd), ("1ea", .invalidNumber), ("-", .unexpectedEnd), ("--1", .invalidNumber),
        ("- 1", .invalidNumber), ("-a", .invalidNumber), ("NaN", .unexpectedByte), ("Infinity", .unexpectedByte),
        ("-Infinity", .invalidNumber), ("1e400", .numberOutOfRange), ("-1e400", .numberOutOfRange),
        ("1.7976931348623159e308", .numberOutOfRange), ("0x10", .trailingData), ("1_000", .trailingData),
        ("[01]", .unexpectedByte), ("[1.]", .invalidNumber), ("[-]", .invalidNumber), ("1x", .trailingData),
    ])
    func badNumbers(_ text: String, _ expected: JSONParseError.Reason) {
        #expect(reason(text) == expected, "\(text)")
    }

    @Test func aHugeNumberIsReadWhole() throws {
        #expect(reason(String(repeating: "1", count: 400)) == .numberOutOfRange)
        #expect(try parse("0." + String(repeating: "0", count: 100_000) + "1") == .number(JSONNumber(0, integer: nil)))
        #expect(try parse("1" + String(repeating: "0", count: 100_000) + "e-100000") == .number(JSONNumber(1)))
        #expect(try parse(String(repeating: "9", count: 300)) == .number(JSONNumber(1e300, integer: nil)))
    }

    // MARK: literals, whitespace, trailing data, empty input

    @Test func literalsAndWhitespace() throws {
        #expect(try parse("true") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("null") == .null)
        #expect(try parse(" \t\r\n[ 1 , \"a\" ,\n{ \"k\" : null } ]\r\n ") == .array([.number(JSONNumber(1)), .string("a"), .object(JSONObject([.init("k", .null)]))]))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{ }") == .object(JSONObject()))
    }

    @Test(arguments: [
        ("", JSONParseError.Reason.unexpectedEnd), (" ", .unexpectedEnd), ("\r\n\t", .unexpectedEnd),
        ("tru", .unexpectedEnd), ("nul", .unexpectedEnd), ("True", .unexpectedByte), ("nulL", .unexpectedByte),
        ("truex", .trailingData), ("[truex]", .unexpectedByte), ("1 2", .trailingData), ("[1] x", .trailingData),
        ("[1],", .trailingData), ("{}}", .trailingData), ("[]]", .trailingData), ("\"a\" \"b\"", .trailingData),
        ("\u{0C}1", .unexpectedByte), ("1\u{0B}", .trailingData), ("\u{A0}1", .unexpectedByte), ("1\u{3000}", .trailingData),
        ("\u{FEFF}1", .unexpectedByte), ("'a'", .unexpectedByte), ("undefined", .unexpectedByte),
    ])
    func badTexts(_ text: String, _ expected: JSONParseError.Reason) {
        #expect(reason(text) == expected, "\(text.unicodeScalars.map { $0.value })")
    }

    @Test func anythingAfterTheValueIsTrailingData() {
        #expect(reason(Array("1".utf8) + [0]) == .trailingData)
        #expect(reason(Array("{}".utf8) + [0] + Array("x".utf8)) == .trailingData)
        #expect(reason(Array("[1] ".utf8) + [0xFF]) == .trailingData)
    }

    // MARK: arrays and objects

    @Test(arguments: [
        ("[1,]", JSONParseError.Reason.unexpectedByte), ("[,1]", .unexpectedByte), ("[1,,2]", .unexpectedByte),
        ("[,]", .unexpectedByte), ("[1 2]", .unexpectedByte), ("[", .unexpectedEnd), ("[1", .unexpectedEnd),
        ("[1,", .unexpectedEnd), ("]", .unexpectedByte), ("{\"a\":1,}", .unexpectedByte), ("{,}", .unexpectedByte),
        ("{,\"a\":1}", .unexpectedByte), ("{\"a\"}", .unexpectedByte), ("{\"a\":}", .unexpectedByte),
        ("{\"a\" 1}", .unexpectedByte), ("{1:2}", .unexpectedByte), ("{a:1}", .unexpectedByte), ("{\"a\":1", .unexpectedEnd),
        ("{\"a\"", .unexpectedEnd), ("{", .unexpectedEnd), ("{\"a\":1 \"b\":2}", .unexpectedByte), ("[[1,],]", .unexpectedByte),
        ("{\"a\":[1,],}", .unexpectedByte),
    ])
    func badContainers(_ text: String, _ expected: JSONParseError.Reason) {
        #expect(reason(text) == expected, "\(text)")
    }

    @Test func objectsKeepNamesInOrder() throws {
        guard case .object(let o) = try parse(#"{"b":1,"a":[true,false],"c":{"d":"e"}}"#) else {
            Issue.record("not an object")
            return
        }
        #expect(o.members.map(\.name) == ["b", "a", "c"])
        #expect(o["a"] == .array([.bool(true), .bool(false)]))
        #expect(o["c"] == .object(JSONObject([.init("d", .string("e"))])))
        #expect(o["z"] == nil)
    }

    /// Foundation (Swift 6.3.1 on Linux) keeps the last value of a repeated name, under the name's first spelling,
    /// and treats canonically equivalent names as one; JSONObject does the same.
    @Test func duplicateNamesKeepTheLastValue() throws {
        guard case .object(let o) = try parse(#"{"a":1,"b":3,"a":2}"#) else {
            Issue.record("not an object")
            return
        }
        #expect(o.members == [.init("a", .number(JSONNumber(2))), .init("b", .number(JSONNumber(3)))])
        guard case .object(let k) = try parse(#"{"\u212a":1,"K":2}"#) else {
            Issue.record("not an object")
            return
        }
        #expect(k.count == 1)
        #expect(k.members[0].name.unicodeScalars.map(\.value) == [0x212A])
        #expect(k.members[0].value == .number(JSONNumber(2)))
    }

    @Test func duplicateNamesInALargeObject() throws {
        // Past 16 names the duplicates are found through a dictionary; the answer is the same.
        var text = "{"
        for round in 0..<3 {
            for k in 0..<40 { text += "\"n\(k)\":\(round * 100 + k)," }
        }
        text += "\"e\\u0301\":1,\"\u{E9}\":2}"
        guard case .object(let o) = try parse(text) else {
            Issue.record("not an object")
            return
        }
        #expect(o.count == 41)
        #expect(o.members.prefix(40).map(\.name) == (0..<40).map { "n\($0)" })
        #expect(o["n7"] == .number(JSONNumber(207)))
        #expect(o.members[40].name.unicodeScalars.map(\.value) == [0x65, 0x301])
        #expect(o.members[40].value == .number(JSONNumber(2)))
    }

    @Test func nestingUpToTheLimit() throws {
        let depth = JSONValue.maxDepth
        let deepest = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        var value = try parse(deepest)
        var levels = 0
        while case .array(let inner) = value {
            levels += 1
            guard let first = inner.first else { break }
            value = first
        }
        #expect(levels == depth)
        let objects = String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
        _ = try parse(objects)
        #expect(reason("[" + deepest + "]") == .tooDeep)
        #expect(reason("{\"a\":" + objects + "}") == .tooDeep)
        // A hostile body: a megabyte of openers is refused at the limit, without deep recursion.
        #expect(reason(String(repeating: "[", count: 1 << 20)) == .tooDeep)
        #expect(reason(String(repeating: "{\"a\":[", count: 100_000)) == .tooDeep)
    }

    // MARK: strings

    @Test(arguments: [
        (#""""#, ""), (#""abc""#, "abc"), (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"), (#""\u0041\u004a\u004A""#, "AJJ"),
        (#""\u0000""#, "\u{0}"), (#""a\u00e9b""#, "a\u{E9}b"), (#""\u20AC""#, "\u{20AC}"), (#""\uFFFF""#, "\u{FFFF}"),
        (#""\uFEFF""#, "\u{FEFF}"), (#""\ud83d\ude00""#, "\u{1F600}"), (#""\uD83D\uDE00x""#, "\u{1F600}x"),
        (#""\uD800\uDC00""#, "\u{10000}"), (#""\uDBFF\uDFFF""#, "\u{10FFFF}"), ("\"gr\u{FC}\u{DF}e \u{1F389}\"", "gr\u{FC}\u{DF}e \u{1F389}"),
        ("\"\u{7F}\u{2028}\"", "\u{7F}\u{2028}"), ("\"\u{E9}\\n\u{65E5}\"", "\u{E9}\n\u{65E5}"),
    ])
    func strings(_ text: String, _ expected: String) throws {
        let value = try parse(text)
        guard case .string(let s) = value else {
            Issue.record("not a string: \(value)")
            return
        }
        #expect(s.unicodeScalars.elementsEqual(expected.unicodeScalars), "\(text)")
    }

    @Test(arguments: [
        (#""\ud800""#, JSONParseError.Reason.invalidSurrogate), (#""\udc00""#, .invalidSurrogate),
        (#""\ud800\u0041""#, .invalidSurrogate), (#""\ud800x""#, .invalidSurrogate), (#""\ude00\ud83d""#, .invalidSurrogate),
        (#""\ud83d\ud83d""#, .invalidSurrogate), (#""\ud83d\n""#, .invalidSurrogate), (#""\ud83d\"#, .unexpectedEnd),
        (#""\ud83d"#, .unexpectedEnd), (#""\x""#, .invalidEscape), (#""\U0041""#, .invalidEscape), (#""\u00""#, .invalidEscape),
        (#""\u00zz""#, .invalidEscape), (#""\u00"#, .unexpectedEnd), (#""\"#, .unexpectedEnd), (#""abc"#, .unexpectedEnd),
        ("\"a\tb\"", .controlCharacter), ("\"a\nb\"", .controlCharacter), ("\"\u{1F}\"", .controlCharacter),
        ("\"\u{0}\"", .controlCharacter), ("\"\\n\u{0}\"", .controlCharacter), (#""\'""#, .invalidEscape),
    ])
    func badStrings(_ text: String, _ expected: JSONParseError.Reason) {
        #expect(reason(text) == expected, "\(text)")
    }

    @Test(arguments: [
        [0xFF], [0x80], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
        [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE2, 0x82], [0xC3], [0xF0, 0x9F, 0x98],
        [0xC3, 0x41], [0xE2, 0x28, 0xA1],
    ] as [[UInt8]])
    func invalidUTF8InAStringIsRefused(_ sequence: [UInt8]) {
        let quote = UInt8(ascii: "\"")
        #expect(reason([quote] + sequence + [quote]) == .invalidUTF8)
        // After an escape, in a name, and at the very end of the input.
        #expect(reason(Array(#""\n"#.utf8) + sequence + [quote]) == .invalidUTF8)
        #expect(reason(Array(#"{""#.utf8) + sequence + Array(#"":1}"#.utf8)) == .invalidUTF8)
        #expect(reason([quote] + sequence) == .invalidUTF8 || reason([quote] + sequence) == .unexpectedEnd)
    }

    @Test func invalidUTF8OutsideStringsIsRefused() {
        #expect(reason([0xEF, 0xBB, 0xBF] + Array("1".utf8)) == .unexpectedByte)  // a BOM is the caller's business
        #expect(reason([0xC3, 0xA9]) == .unexpectedByte)
        #expect(reason(Array("[1,".utf8) + [0xFF] + Array("]".utf8)) == .unexpectedByte)
    }

    @Test func utf16IsNotJSONHere() {
        let le = Array("{\"a\":1}".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        #expect(reason(le) != nil)
        #expect(reason([0xFF, 0xFE] + le) != nil)
    }

    @Test func errorsCarryTheirOffset() {
        do {
            _ = try JSONValue.parse(Array("[1, 2,]".utf8))
            Issue.record("accepted")
        } catch {
            #expect(error == JSONParseError(.unexpectedByte, at: 6))
        }
    }

    @Test func parsesFromABufferSlice() throws {
        let bytes = Array("xx[true]yy".utf8)
        let value = try bytes.withUnsafeBufferPointer { all throws(JSONParseError) in
            try JSONValue.parse(UnsafeBufferPointer(rebasing: all[2..<8]))
        }
        #expect(value == .array([.bool(true)]))
    }
}
