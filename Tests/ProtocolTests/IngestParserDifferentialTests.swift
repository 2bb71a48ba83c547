import Foundation
import LivefeedProtocol
import Testing

/// IngestParser (on JSONValue) against the Foundation-based IngestParser it replaced, over a corpus of a few hundred
/// hand-written, generated and mutated bodies plus the fuzz seeds: both must accept the same bodies with the same
/// messages and refuse the rest with the same code and message, except where the new parser deliberately differs
/// (`StrictnessDifference`), each checked for what it must do instead.
@Suite struct IngestParserDifferentialTests {
    enum Outcome: Equatable, CustomStringConvertible {
        case accepted([NewMessage])
        case refused(code: String, message: String)

        /// Strings compared scalar by scalar: String's == would equate canonically equivalent names and texts.
        static func == (a: Outcome, b: Outcome) -> Bool {
            switch (a, b) {
            case (.accepted(let x), .accepted(let y)): x.count == y.count && zip(x, y).allSatisfy { scalars($0) == scalars($1) }
            case (.refused(let c, let m), .refused(let d, let n)): c == d && m.unicodeScalars.elementsEqual(n.unicodeScalars)
            default: false
            }
        }

        static func scalars(_ m: NewMessage) -> [[Unicode.Scalar]] {
            func ref(_ r: NewMessage.Ref) -> [Unicode.Scalar] {
                switch r {
                case .id(let id): Array("id \(id)".unicodeScalars)
                case .name(let name): Array("name ".unicodeScalars) + Array(name.unicodeScalars)
                }
            }
            return [ref(m.channel), ref(m.user), Array(m.text.unicodeScalars), Array((m.sentAt ?? "-").unicodeScalars),
                m.sentAt == nil ? [] : ["+"], Array((m.key ?? "-").unicodeScalars), m.key == nil ? [] : ["+"]]
        }

        var description: String {
            let full = switch self {
            case .accepted(let m): "accepted \(m)"
            case .refused(let code, let message): "\(code): \(message)"
            }
            return full.count > 400 ? full.prefix(400) + "…" : full
        }
    }

    static func current(_ body: [UInt8], allowKey: Bool) -> Outcome {
        switch IngestParser.parse(body, maxMessages: 3, allowKey: allowKey) {
        case .success(let m): .accepted(m)
        case .failure(let f): .refused(code: f.code, message: f.message)
        }
    }

    static func reference(_ body: [UInt8], allowKey: Bool) -> Outcome {
        switch FoundationIngestReference.parse(body, maxMessages: 3, allowKey: allowKey) {
        case .success(let m): .accepted(m)
        case .failure(let f): .refused(code: f.code, message: f.message)
        }
    }

    @Test func agreesWithTheFoundationParser() throws {
        let corpus = try IngestCorpus.all()
        #expect(corpus.count >= 500)
        var compared = 0
        var differing: [StrictnessDifference: Int] = [:]
        var accepted = 0
        for (label, body) in corpus {
            let differences = StrictnessDifference.of(body)
            let refused = differences.intersection([.trailingComma, .notUTF8, .deeperThan64])
            for allowKey in [false, true] {
                let new = Self.current(body, allowKey: allowKey)
                let old = Self.reference(body, allowKey: allowKey)
                compared += 1
                if case .accepted = new { accepted += 1 }
                if new != old {
                    for d in differences { differing[d, default: 0] += 1 }
                }
                if !refused.isEmpty {
                    #expect(new == .refused(code: "invalid_json", message: "not valid JSON"), "\(label) (\(refused)): \(new)")
                    continue
                }
                // Foundation dropped a raw U+FEFF at the start of a string; written as \ufeff it kept it.
                let expected = differences.contains(.byteOrderMarkInString)
                    ? Self.reference(StrictnessDifference.escapingByteOrderMarks(body), allowKey: allowKey) : old
                if differences.contains(.fractionalId), case .refused("invalid_message", let message) = new,
                    message.contains("must be a name (1-64 bytes) or a positive id")
                {
                    continue
                }
                #expect(new == expected, "\(label) allowKey=\(allowKey) \(differences): new \(new) vs Foundation \(expected)")
            }
        }
        // Each documented difference is real: the corpus holds bodies Foundation answered otherwise.
        for difference in StrictnessDifference.allCases {
            #expect(differing[difference, default: 0] > 0, "no input shows \(difference)")
        }
        #expect(compared >= 1000)
        // Enough bodies get through every rule for the messages themselves to be compared.
        #expect(accepted >= 200)
    }

    /// The same corpus one level down: JSONValue accepts what JSONSerialization accepts (a leading BOM skipped, as
    /// IngestParser skips it), with the same values, except the documented differences, where it refuses.
    @Test func jsonValueAgreesWithJSONSerialization() throws {
        for (label, body) in try IngestCorpus.all() {
            let differences = StrictnessDifference.of(body)
            let bom = body.starts(with: [0xEF, 0xBB, 0xBF])
            let new = try? JSONValue.parse(Array(body.dropFirst(bom ? 3 : 0)))
            if !differences.intersection([.trailingComma, .notUTF8, .deeperThan64]).isEmpty {
                #expect(new == nil, "\(label)")
                continue
            }
            let foundationBody = differences.contains(.byteOrderMarkInString) ? StrictnessDifference.escapingByteOrderMarks(body) : body
            let old = try? JSONSerialization.jsonObject(with: Data(foundationBody), options: [.fragmentsAllowed])
            switch (new, old) {
            case (nil, nil): break
            case (let new?, let old?): #expect(Self.same(new, old), "\(label): \(String(describing: new).prefix(300)) vs \(String(describing: old).prefix(300))")
            case (nil, _): Issue.record("\(label): refused, JSONSerialization took it")
            case (_, nil): Issue.record("\(label): accepted, JSONSerialization refused it")
            }
        }
    }

    static func same(_ value: JSONValue, _ foundation: Any) -> Bool {
        switch value {
        case .null: return foundation is NSNull
        case .bool(let b):
            guard let n = foundation as? NSNumber, String(cString: n.objCType) == "c" else { return false }
            return n.boolValue == b
        case .number(let n):
            guard !(foundation is String), let f = foundation as? NSNumber else { return false }
            let type = String(cString: f.objCType)
            guard type != "c" else { return false }
            // A long decimal comes back as an NSDecimalNumber whose doubleValue is not always the nearest Double
            // (4503599627370496.5 gives ...497); its description is the exact decimal.
            guard n.double == Double(f.description) ?? f.doubleValue else { return false }
            if ["q", "Q", "i", "l", "s"].contains(type), let exact = Int64(f.description), exact.magnitude < 1_000_000_000_000_000_000 {
                return n.integer == exact
            }
            return true
        case .string(let s):
            guard let t = foundation as? String else { return false }
            return s.unicodeScalars.elementsEqual(t.unicodeScalars)
        case .array(let a):
            guard let b = foundation as? [Any], a.count == b.count else { return false }
            return zip(a, b).allSatisfy { same($0, $1) }
        case .object(let o):
            guard let d = foundation as? [String: Any], d.count == o.count else { return false }
            return o.members.allSatisfy { m in d[m.name].map { same(m.value, $0) } ?? false }
        }
    }

    /// The trim is Foundation's: the scalar set, checked over every scalar, and trimming itself on mixed strings.
    @Test func nameTrimmingMatchesFoundation() {
        for v in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(v) else { continue }
            if IngestParser.isWhitespaceOrNewline(v) != CharacterSet.whitespacesAndNewlines.contains(scalar) {
                Issue.record("U+\(String(v, radix: 16)) differs")
            }
        }
        let pieces = [" ", "\t", "\n", "\r\n", "\u{B}", "\u{C}", "\u{85}", "\u{A0}", "\u{1680}", "\u{2003}", "\u{200B}",
            "\u{2028}", "\u{3000}", "\u{FEFF}", "\u{180E}", "\u{301}", "a", "Z", "9", "\u{E9}", "\u{1F600}", "\u{1F3FB}",
            "\u{0}", "\u{7F}", "-", "\u{20DD}"]
        var rng = SplitMix64(seed: 7)
        var samples = pieces + pieces.flatMap { a in pieces.map { a + $0 } }
        for _ in 0..<2000 { samples.append((0..<Int.random(in: 1...6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()) }
        for s in samples {
            let expected = s.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(IngestParser.trimmed(s).unicodeScalars.elementsEqual(expected.unicodeScalars), "\(s.unicodeScalars.map(\.value))")
        }
    }
}

/// Where the JSONValue-based IngestParser answers otherwise than JSONSerialization did, by choice.
enum StrictnessDifference: String, CaseIterable {
    /// `[1,]`, `{"a":1,}`: JSONSerialization ignored one comma before a closing bracket; RFC 8259 has no such
    /// comma. Now `invalid_json`.
    case trailingComma
    /// JSONSerialization guessed UTF-16 or UTF-32 from a byte order mark or NUL bytes among the first four; RFC
    /// 8259 JSON between systems is UTF-8, and a NUL byte can never begin UTF-8 JSON. Now `invalid_json`.
    case notUTF8
    /// Arrays and objects nested 65 to 512 deep (JSONSerialization's own limit was 512; a message is 2 deep).
    /// Now `invalid_json` rather than `invalid_message`.
    case deeperThan64
    /// A raw U+FEFF that begins a string (or follows an escape in one) was silently dropped by JSONSerialization
    /// (each unescaped run went through a UTF-8 decoder that strips a leading BOM), so `"\u{FEFF}general"` named
    /// channel "general" and a field named `"\u{FEFF}text"` was `text`. Now kept, as `\ufeff` always was: text is
    /// stored exactly as sent.
    case byteOrderMarkInString
    /// A channel or user given as a number that is not whole but whose Double is (`1.0000000000000001`,
    /// `9000000000000000.5`): JSONSerialization took it as an id (via Double, or an NSDecimalNumber rounded half
    /// up: `4503599627370496.5` became 4503599627370497). Now `invalid_message`, like `1.5`.
    case fractionalId

    static func of(_ body: [UInt8]) -> Set<StrictnessDifference> {
        var found: Set<StrictnessDifference> = []
        if body.prefix(4).contains(0) || body.starts(with: [0xFF, 0xFE]) || body.starts(with: [0xFE, 0xFF]) { found.insert(.notUTF8) }
        var inString = false
        var escaped = false
        var depth = 0
        var deepest = 0
        var lastSignificant: UInt8 = 0
        for c in body {
            if inString {
                if escaped {
                    escaped = false
                } else if c == UInt8(ascii: "\\") {
                    escaped = true
                } else if c == UInt8(ascii: "\"") {
                    inString = false
                }
                lastSignificant = c
                continue
            }
            switch c {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if lastSignificant == UInt8(ascii: ",") { found.insert(.trailingComma) }
                depth -= 1
            default: break
            }
            lastSignificant = c
        }
        if deepest > JSONValue.maxDepth { found.insert(.deeperThan64) }
        if escapingByteOrderMarks(body) != body { found.insert(.byteOrderMarkInString) }
        let bom = body.starts(with: [0xEF, 0xBB, 0xBF])
        if let json = try? JSONValue.parse(Array(body.dropFirst(bom ? 3 : 0))) {
            let items: [JSONValue] = if case .array(let a) = json { a } else { [json] }
            for case .object(let o) in items {
                for field in ["channel", "user"] {
                    if case .number(let n)? = o[field], n.integer == nil, n.double >= 1, n.double <= 9e15, n.double.rounded() == n.double {
                        found.insert(.fractionalId)
                    }
                }
            }
        }
        return found
    }

    /// The body with every raw U+FEFF but a leading one written as `\ufeff`: the same JSON, which Foundation read
    /// without dropping anything.
    static func escapingByteOrderMarks(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var k = 0
        while k < body.count {
            if k > 0, k + 2 < body.count, body[k] == 0xEF, body[k + 1] == 0xBB, body[k + 2] == 0xBF {
                out += Array("\\ufeff".utf8)
                k += 3
            } else {
                out.append(body[k])
                k += 1
            }
        }
        return out
    }
}

/// The bodies compared: hand-written edge cases, the committed fuzz seeds (ingest and json), messages generated from
/// pools of good and bad field values with random spacing, order and duplicates, and byte-level mutations of those.
enum IngestCorpus {
    static func all() throws -> [(label: String, bytes: [UInt8])] {
        var out: [(String, [UInt8])] = []
        for (i, text) in handWritten.enumerated() { out.append(("hand-written \(i) \(text.prefix(60))", Array(text.utf8))) }
        out += try fuzzSeeds()
        out += byteLevel
        var rng = SplitMix64(seed: 20_261_126)
        let generated = (0..<800).map { _ in document(using: &rng) }
        for (i, text) in generated.enumerated() { out.append(("generated \(i) \(text.prefix(60))", Array(text.utf8))) }
        for i in 0..<250 {
            var bytes = Array(generated[i % generated.count].utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) { mutate(&bytes, using: &rng) }
            out.append(("mutated \(i) \(String(decoding: bytes.prefix(60), as: UTF8.self))", bytes))
        }
        return out
    }

    static func fuzzSeeds() throws -> [(String, [UInt8])] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var out: [(String, [UInt8])] = []
        for target in ["ingest", "json"] {
            let directory = root.appendingPathComponent("Fuzz/corpus/\(target)")
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            #expect(names.count >= 3)
            out += try names.map { ("Fuzz/corpus/\(target)/\($0)", Array(try Data(contentsOf: directory.appendingPathComponent($0)))) }
        }
        return out
    }

    static let ok = #"{"channel":"c","user":"u","text":"t"}"#

    static let handWritten: [String] = [
        "", " ", "{", "}", "[]", "[ ]", "{}", "42", "\"text\"", "null", "true", "[1,2,3,4]", "[1,2,3]", "[null]", "[[]]",
        ok, "[\(ok)]", "[\(ok),\(ok)]", "[\(ok),\(ok),\(ok)]", "[\(ok),\(ok),\(ok),\(ok)]", "[\(ok),1]", "[\(ok),[]]",
        " \r\n\t\(ok)\r\n ", "\(ok) x", "\(ok),", "\(ok)\(ok)", "[\(ok)] ]", "{\(ok)}", "[\(ok),]", "{\"channel\":\"c\",}",
        #"{"channel":" general ","user":"ada","text":"hi"}"#,
        #"[{"channel":2,"user":3,"text":"a","sent_at":"2026-11-26T15:00:00+01:00"}]"#,
        #"{"user":"a","text":"x"}"#, #"{"channel":"c","user":"a"}"#, #"{"channel":"c","user":"a","text":""}"#,
        #"{"channel":"c","user":"a","text":5}"#, #"{"channel":true,"user":"a","text":"x"}"#,
        #"{"channel":false,"user":"a","text":"x"}"#, #"{"channel":0,"user":"a","text":"x"}"#,
        #"{"channel":1.5,"user":"a","text":"x"}"#, #"{"channel":"","user":"a","text":"x"}"#,
        #"{"channel":"c","user":"a","text":"x","sent_at":"yesterday"}"#, #"{"channel":"c","user":"a","text":"x","colour":"red"}"#,
        #"{"zeta":1,"alpha":2,"channel":"c","user":"a","text":"x"}"#, #"{"Key":1,"key":2,"channel":"c","user":"a","text":"x"}"#,
        #"{"channel":"c","user":"a","text":"x","key":"k-1"}"#, #"{"channel":"c","user":"a","text":"x","key":null}"#,
        #"{"channel":"c","user":"a","text":"x","key":""}"#, #"{"channel":"c","user":"a","text":"x","key":5}"#,
        #"{"channel":"c","user":"a","text":"x","sent_at":null}"#, #"{"channel":"c","user":"a","text":"x","sent_at":0}"#,
        #"{"channel":null,"user":"a","text":"x"}"#, #"{"channel":"c","user":"a","text":null}"#,
        #"{"channel":1,"channel":"named","user":"a","text":"x"}"#, #"{"text":"one","channel":"c","user":"a","text":"two"}"#,
        #"{"\u0063hannel":"escaped name","user":"a","text":"x"}"#, #"{"channel":"c","user":"a","text":"x","te\u0078t":"y"}"#,
        #"{"\u212a":1,"K":2,"channel":"c","user":"a","text":"x"}"#, #"{"K":1,"\u212a":2,"channel":"c","user":"a","text":"x"}"#,
        #"{"\u00e9":1,"e\u0301":2,"channel":"c","user":"a","text":"x"}"#, #"{"b":1,"a":1,"B":1,"\u00e9":1,"channel":"c","user":"a","text":"x"}"#,
        #"{"channel":"c","user":"a","text":"\ud800"}"#, #"{"channel":"c","user":"a","text":"\udc00\ud800"}"#,
        #"{"channel":"c","user":"a","text":"\ud83d\ude00"}"#, #"{"channel":"c","user":"a","text":"\u0000"}"#,
        #"{"channel":"a\u0000b","user":"a","text":"x"}"#, #"{"channel":"\u0085c\u0085","user":"a","text":"x"}"#,
        #"{"channel":"c\u0085d","user":"a","text":"x"}"#, #"{"channel":"\u200b\u200bc","user":"\ufeffa","text":"x"}"#,
        #"{"channel":" \u0301a","user":"a\u3000","text":"x"}"#, #"{"channel":"\t\n","user":"a","text":"x"}"#,
        #"{"channel":1e3,"user":1E0,"text":"x"}"#, #"{"channel":9e15,"user":9000000000000001,"text":"x"}"#,
        #"{"channel":9000000000000000.5,"user":1.0000000000000001,"text":"x"}"#, #"{"channel":-0,"user":1,"text":"x"}"#,
        #"{"channel":1e400,"user":1,"text":"x"}"#, #"{"channel":1e-400,"user":1,"text":"x"}"#,
        #"{"channel":12345678901234567890,"user":1,"text":"x"}"#, #"{"channel":01,"user":1,"text":"x"}"#,
        #"{"channel":+1,"user":1,"text":"x"}"#, #"{"channel":.5,"user":1,"text":"x"}"#, #"{"channel":1.,"user":1,"text":"x"}"#,
        #"{"channel":NaN,"user":1,"text":"x"}"#, #"{"channel":[1],"user":1,"text":"x"}"#, #"{"channel":{},"user":1,"text":"x"}"#,
        #"{'channel':'c','user':'a','text':'x'}"#, #"{channel:"c",user:"a",text:"x"}"#,
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"tab\there\"}", "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"del\u{7F}\"}",
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"\u{2028}\u{2029}\"}",
        "{\"\u{FEFF}text\":\"x\",\"channel\":\"c\",\"user\":\"a\"}", "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"\u{FEFF}\"}",
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"\\n\u{FEFF}x\u{FEFF}\"}", #"{"channel":4503599627370496.5,"user":"a","text":"x"}"#,
        #"{"channel":2.9999999999999999,"user":"a","text":"x"}"#, #"{"channel":"c","user":1.00000000000000000001e1,"text":"x"}"#,
        "\u{C}\(ok)", "\(ok)\u{B}", "\u{A0}\(ok)",
        "\u{FEFF}\(ok)", "\u{FEFF}\u{FEFF}\(ok)", " \u{FEFF}\(ok)", "\u{FEFF}", "\u{FEFF} [\(ok)]",
        "[" + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "]",
        "[" + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "]",
        String(repeating: "[", count: 200) + String(repeating: "]", count: 200),
        String(repeating: "[", count: 512) + String(repeating: "]", count: 512),
        String(repeating: "[", count: 513) + String(repeating: "]", count: 513),
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"x\",\"deep\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}",
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"\(String(repeating: "t", count: 16384))\"}",
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"\(String(repeating: "t", count: 16385))\"}",
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"\(String(repeating: "\u{E9}", count: 8192))\"}",
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"\(String(repeating: "\u{E9}", count: 8193))\"}",
        "{\"channel\":\"\(String(repeating: "n", count: 64))\",\"user\":\"a\",\"text\":\"x\"}",
        "{\"channel\":\"\(String(repeating: "n", count: 65))\",\"user\":\"a\",\"text\":\"x\"}",
        "{\"channel\":\"  \(String(repeating: "n", count: 64))\\n\",\"user\":\"a\",\"text\":\"x\"}",
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"x\",\"key\":\"\(String(repeating: "~", count: 255))\"}",
        "{\"channel\":\"c\",\"user\":\"a\",\"text\":\"x\",\"key\":\"\(String(repeating: "~", count: 256))\"}",
    ]

    /// Bodies that are not UTF-8 text: UTF-16 and UTF-32 encodings (which JSONSerialization decoded), NUL bytes,
    /// invalid UTF-8 inside and outside strings.
    static var byteLevel: [(String, [UInt8])] {
        let samples = [ok, "[\(ok)]", "42", "[1]"]
        var out: [(String, [UInt8])] = []
        for s in samples {
            let utf16 = Array(s.utf16)
            out.append(("utf-16le \(s)", utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))
            out.append(("utf-16be \(s)", utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }))
            out.append(("utf-16le bom \(s)", [0xFF, 0xFE] + utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))
            out.append(("utf-16be bom \(s)", [0xFE, 0xFF] + utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }))
            out.append(("utf-32le \(s)", s.unicodeScalars.flatMap { [UInt8($0.value & 0xFF), 0, 0, 0] }))
        }
        let head = Array(#"{"channel":"c","user":"a","text":""#.utf8)
        let tail = Array(#""}"#.utf8)
        for bad: [UInt8] in [[0xFF], [0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x00], [0x1F]] {
            out.append(("text bytes \(bad)", head + bad + tail))
            out.append(("name bytes \(bad)", Array(#"{"channel":""#.utf8) + bad + Array(#"","user":"a","text":"x"}"#.utf8)))
        }
        out.append(("NUL after", Array(ok.utf8) + [0]))
        out.append(("NUL and garbage after", Array(ok.utf8) + [0] + Array("garbage".utf8)))
        out.append(("1 NUL", [0x31, 0x00]))
        out.append(("1 NUL x", [0x31, 0x00, 0x78]))
        out.append(("0xFF after", Array(ok.utf8) + [0xFF]))
        out.append(("raw é outside", [0xC3, 0xA9] + Array(ok.utf8)))
        return out
    }

    // Pools of JSON texts for each field, good and bad.
    static let names = [
        #""general""#, #"" general ""#, #""\u00a0ada\u3000""#, "\"\u{A0}ada\u{3000}\"", #""\u200bzed""#, #""""#, #"" ""#,
        #""\t""#, #""a\u0000b""#, #""a\u007fb""#, #""a\u0085b""#, #""\u0085x\u2028""#, #""x\u2029""#, "\"\u{FEFF}bom\"",
        "\"\u{180E}mvs\"", "\"\u{E9}\"", "\"e\u{301}\"", "\" \u{301}a\"", "\"\u{1F600} \u{1F3FB}\"", #""\ud83d\ude00""#,
        "\"\(String(repeating: "x", count: 64))\"", "\"\(String(repeating: "x", count: 65))\"",
        "\"\(String(repeating: "\u{E9}", count: 32))\"", "\"\(String(repeating: "\u{E9}", count: 33))\"",
        "\" \(String(repeating: "x", count: 64)) \"", "\"\u{3000}\(String(repeating: "y", count: 64))\"", #""\"quoted\"""#,
        #""a/b""#, #""\/""#, "\"a\u{7F}\"", #""\u0009in\u0009""#, "\"\u{1680}x\u{205F}\"", #""x\u200a""#,
    ]
    static let ids = [
        "1", "2", "0", "-1", "-0", "1.5", "1.0", "1e3", "1E3", "1e+3", "10e-1", "0.5e1", "9e15", "9000000000000000",
        "9000000000000001", "9000000000000000.5", "9000000000000001.5", "1.0000000000000001", "0.99999999999999999",
        "12345678901234567890", "1e-400", "true", "false", "null", "[]", "{}", "[1]", #"{"id":1}"#, "4503599627370496.5",
        "123456789012.000", "42e0", "0.42e2", "-42",
    ]
    static let texts = [
        #""hi""#, #""""#, "5", "true", "null", #""\u0000""#, #""a\nb""#, "\"\u{E9}\"", #"["x"]"#, #"{"x":1}"#, #""\ud800""#,
        #""\uDBFF\uDFFF""#, #"" ""#, "\"\u{2028}\"", "\"\(String(repeating: "t", count: 16384))\"",
        "\"\(String(repeating: "t", count: 16383))\\n\"", "\"\(String(repeating: "t", count: 16384))\\n\"",
        "\"\u{FEFF}\"", #""\ufeff""#, #""<b>&amp;</b>""#,
    ]
    /// Not JSON at all: rarely chosen, so that most generated bodies get as far as the message rules.
    static let broken = [
        #""\ud800""#, "\"tab\there\"", "1e400", "01", "+1", ".5", "1.", "-", "7e", #""\x""#, #""\u12""#, #""unterminated"#,
        "[1,]", "NaN", "tru", "'a'",
    ]
    static let sentAts = [
        #""2026-11-26T14:00:00Z""#, #""2026-11-26T15:00:00.123456+01:00""#, #""2024-02-29 00:00:00z""#,
        #""2026-02-29T00:00:00Z""#, #""yesterday""#, "null", "5", #""""#, "true", "[]",
    ]
    static let keys = [
        #""k1""#, #""""#, #""has space""#, "null", "7", "\"\(String(repeating: "~", count: 255))\"",
        "\"\(String(repeating: "~", count: 256))\"", "\"\u{E9}\"", #""\u0041""#,
    ]
    static let extras = [
        (#""colour""#, #""red""#), (#""Key""#, "1"), (#""zeta""#, "[1,2]"), ("\"\u{E9}\"", "1"), (#""a""#, #"{"b":{}}"#),
        (#""""#, "null"), (#""channel ""#, "1"), (#""\u0063hannel""#, #""escaped-name""#), (#""sent_at""#, "null"),
        (#""\u212a""#, "1"), (#""K""#, "2"),
    ]
    static let spaces = ["", "", "", " ", "\n", "\t", "\r\n", "  "]

    static func document(using rng: inout SplitMix64) -> String {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<6: return message(using: &rng)
        case 6..<9:
            let items = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                Int.random(in: 0..<8, using: &rng) == 0 ? ["1", #""x""#, "null", "[]", "{}"].randomElement(using: &rng)!
                    : message(using: &rng)
            }
            return ws(&rng) + "[" + items.joined(separator: ws(&rng) + "," + ws(&rng)) + "]" + ws(&rng)
        default: return (ids + texts + broken + ["[]", "[[1]]", #"{"a":[1,{"b":null}]}"#]).randomElement(using: &rng)!
        }
    }

    static func ws(_ rng: inout SplitMix64) -> String { spaces.randomElement(using: &rng)! }

    static func message(using rng: inout SplitMix64) -> String {
        var members: [(String, String)] = []
        func maybe(_ percent: Int, _ name: String, _ pool: [String], _ rng: inout SplitMix64) {
            guard Int.random(in: 0..<100, using: &rng) < percent else { return }
            let bad = Int.random(in: 0..<100, using: &rng) < 3
            members.append((name, (bad ? broken : pool).randomElement(using: &rng)!))
        }
        // Often plain values, so that many bodies are accepted and their messages compared.
        func plainOr(_ plain: [String], _ all: [String], _ rng: inout SplitMix64) -> [String] {
            Int.random(in: 0..<10, using: &rng) < 6 ? plain : all
        }
        maybe(95, #""channel""#, plainOr([#""c""#, #""general""#, "1", "42"], names + ids, &rng), &rng)
        maybe(95, #""user""#, plainOr([#""u""#, "3"], names + ids, &rng), &rng)
        maybe(95, #""text""#, plainOr([#""hello""#], texts, &rng), &rng)
        maybe(30, #""sent_at""#, sentAts, &rng)
        maybe(30, #""key""#, keys, &rng)
        if Int.random(in: 0..<100, using: &rng) < 15 { members.append(extras.randomElement(using: &rng)!) }
        if Int.random(in: 0..<100, using: &rng) < 10, let repeated = members.randomElement(using: &rng) {
            members.append((repeated.0, (names + ids).randomElement(using: &rng)!))
        }
        members.shuffle(using: &rng)
        let body = members.map { ws(&rng) + $0.0 + ws(&rng) + ":" + ws(&rng) + $0.1 + ws(&rng) }.joined(separator: ",")
        return ws(&rng) + "{" + body + "}" + ws(&rng)
    }

    static let interesting: [UInt8] = Array(",]}[{\"\\01.e-+ \nuxnt:".utf8) + [0x00, 0x0C, 0xFF, 0xC3, 0xA9, 0x80]

    static func mutate(_ bytes: inout [UInt8], using rng: inout SplitMix64) {
        guard !bytes.isEmpty else {
            bytes.append(interesting.randomElement(using: &rng)!)
            return
        }
        let at = Int.random(in: 0..<bytes.count, using: &rng)
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: bytes.remove(at: at)
        case 1: bytes.insert(interesting.randomElement(using: &rng)!, at: at)
        case 2: bytes[at] = interesting.randomElement(using: &rng)!
        case 3: bytes.removeSubrange(at...)
        default:
            let end = min(bytes.count, at + Int.random(in: 1...8, using: &rng))
            bytes.insert(contentsOf: bytes[at..<end], at: at)
        }
    }
}

/// A seeded generator, so the corpus is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
