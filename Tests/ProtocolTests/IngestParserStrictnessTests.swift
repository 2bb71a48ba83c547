import LivefeedProtocol
import Testing

/// What IngestParser answers where it deliberately differs from the JSONSerialization-based parser it replaced
/// (see `StrictnessDifference`), and what it kept.
@Suite struct IngestParserStrictnessTests {
    func parse(_ bytes: [UInt8], allowKey: Bool = false) -> Result<[NewMessage], IngestParser.Failure> {
        IngestParser.parse(bytes, maxMessages: 3, allowKey: allowKey)
    }

    func parse(_ json: String) -> Result<[NewMessage], IngestParser.Failure> { parse(Array(json.utf8)) }

    func failure(_ result: Result<[NewMessage], IngestParser.Failure>) -> IngestParser.Failure? {
        if case .failure(let f) = result { f } else { nil }
    }

    static let ok = #"{"channel":"c","user":"u","text":"t"}"#
    static let okMessage = NewMessage(channel: .name("c"), user: .name("u"), text: "t", sentAt: nil)

    @Test func aLeadingByteOrderMarkIsStillSkipped() throws {
        #expect(try parse([0xEF, 0xBB, 0xBF] + Array(Self.ok.utf8)).get() == [Self.okMessage])
        #expect(try parse([0xEF, 0xBB, 0xBF] + Array(" [\(Self.ok)]".utf8)).get() == [Self.okMessage])
        #expect(failure(parse([0xEF, 0xBB, 0xBF]))?.message == "not valid JSON: it ends inside a value, after 3 bytes")
        #expect(failure(parse([0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF] + Array(Self.ok.utf8)))?.code == "invalid_json")
        #expect(failure(parse(Array(" ".utf8) + [0xEF, 0xBB, 0xBF] + Array(Self.ok.utf8)))?.code == "invalid_json")
    }

    @Test(arguments: [
        "[\(ok),]", #"{"channel":"c","user":"u","text":"t",}"#, "[\(ok)] x", "\(ok)\u{0}", "\u{C}\(ok)",
        "[" + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "]",
        #"{"channel":"c","user":"u","text":"\ud800"}"#, #"{"channel":"c","user":"u","text":"t","n":1e400}"#,
    ])
    func laxJSONIsInvalidJSON(_ body: String) {
        let f = failure(parse(body))
        #expect(f?.code == "invalid_json" && f?.message.hasPrefix("not valid JSON: ") == true, "\(String(describing: f))")
    }

    /// The refusal says what is wrong and where: the byte, counted from 1 in the body as sent (a leading BOM included).
    @Test(arguments: [
        (#"{"channel":"c","user":"u","text":"t","n":1e400}"#, "a number too large for a double at byte 42"),
        ("[\(ok),]", "an unexpected character at byte 40"),
        ("\u{FEFF}{\"text\":\"a\u{1}\"}", "a raw control character in a string (escape it) at byte 14"),
        ("[\(ok)] x", "more after the value at byte 41"),
        (#"{"text":"\x"}"#, "an unknown backslash escape at byte 11"),
    ])
    func invalidJSONSaysWhatAndWhere(_ body: String, _ detail: String) {
        #expect(failure(parse(body))?.message == "not valid JSON: " + detail)
    }

    @Test func utf16BodiesAreInvalidJSON() {
        let utf16 = Array(Self.ok.utf16)
        #expect(failure(parse(utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))?.code == "invalid_json")
        #expect(failure(parse([0xFE, 0xFF] + utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }))?.code == "invalid_json")
    }

    @Test func aRawByteOrderMarkInAStringIsKept() throws {
        let body = "{\"channel\":\"\u{FEFF}c\",\"user\":\"u\",\"text\":\"\\n\u{FEFF}t\"}"
        let m = try parse(body).get()[0]
        #expect(m.channel == .name("\u{FEFF}c"))
        #expect(m.text.unicodeScalars.map(\.value) == [0x0A, 0xFEFF, 0x74])
        #expect(failure(parse("{\"\u{FEFF}text\":\"t\",\"channel\":\"c\",\"user\":\"u\"}"))?.message == "unknown field \"\u{FEFF}text\"")
    }

    @Test(arguments: [("1", 1), ("1.0", 1), ("1e3", 1000), ("0.25e2", 25), ("10e-1", 1), ("9e15", 9_000_000_000_000_000),
        ("9000000000000000.000", 9_000_000_000_000_000)] as [(String, Int64)])
    func wholeNumbersAreIds(_ number: String, _ id: Int64) throws {
        let m = try parse(#"{"channel":\#(number),"user":"u","text":"t"}"#).get()
        #expect(m[0].channel == .id(id))
    }

    @Test(arguments: ["1.0000000000000001", "9000000000000000.5", "4503599627370496.5", "2.9999999999999999", "1.5",
        "0.5", "0", "-0", "-1", "9000000000000001", "1e16", "true", "false", "null", "[1]", "{}"])
    func otherValuesAreNotIds(_ value: String) {
        let f = failure(parse(#"[{"channel":"c","user":\#(value),"text":"t"}]"#))
        #expect(f?.code == "invalid_message")
        #expect(f?.message == "item 0: \"user\" must be a name (1-64 bytes) or a positive id")
    }

    @Test func repeatedFieldsKeepTheLastValue() throws {
        let m = try parse(#"{"channel":1,"user":"u","text":"one","channel":" named ","text":"two"}"#).get()
        #expect(m == [NewMessage(channel: .name("named"), user: .name("u"), text: "two", sentAt: nil)])
        // Canonically equivalent names are one field, named as first written.
        #expect(failure(parse(#"{"\u212a":1,"K":2,"channel":"c","user":"u","text":"t"}"#))?.message == "unknown field \"\u{212A}\"")
    }

    @Test func theFirstUnknownFieldInStringOrderIsNamed() {
        let body = #"{"zeta":1,"channel":"c","b":2,"user":"u","\u00e9":3,"B":4,"text":"t","key":"k"}"#
        #expect(failure(parse(body))?.message == "unknown field \"B\"")
        #expect(failure(parse(Array(body.utf8), allowKey: true))?.message == "unknown field \"B\"")
        #expect(failure(parse(#"{"channel":"c","user":"u","text":"t","key":"k"}"#))?.message == "unknown field \"key\"")
    }

    @Test func namesAreTrimmedAsFoundationTrimmedThem() throws {
        let m = try parse(#"{"channel":"\u200b\u3000 general\u0085\u2029","user":" \u0301a\t","text":"t"}"#).get()
        #expect(m[0].channel == .name("general"))
        #expect(m[0].user.nameScalars == [0x301, 0x61])
        // U+FEFF and U+180E are not whitespace to Foundation; U+0085 inside a name is a control character.
        #expect(try parse(#"{"channel":"\u180ex","user":"u","text":"t"}"#).get()[0].channel.nameScalars == [0x180E, 0x78])
        #expect(failure(parse(#"{"channel":"a\u0085b","user":"u","text":"t"}"#))?.message.hasPrefix("\"channel\"") == true)
        #expect(failure(parse(#"{"channel":"\u200b","user":"u","text":"t"}"#))?.message.hasPrefix("\"channel\"") == true)
    }
}

extension NewMessage.Ref {
    var nameScalars: [UInt32]? {
        if case .name(let name) = self { name.unicodeScalars.map(\.value) } else { nil }
    }
}
