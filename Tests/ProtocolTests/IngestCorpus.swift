import Foundation
import LivefeedProtocol
import Testing

/// The bodies compared: hand-written edge cases, the committed fuzz seeds (ingest and json), messages generated from
/// pools of good and bad field values with random spacing, order and duplicates, and byte-level mutations of those.
enum IngestCorpus {
    static func all() throws -> [(label: String, bytes: [UInt8])] {
        var out: [(String, [UInt8])] = []
        for (i, text) in handWritten.enumerated() { out.append(("hand-written \(i) \(text.prefix(60))", Array(text.utf8))) }
        out += try fuzzSeeds()
        out += byteLevel
        var rng = SeededGenerator(seed: 20_261_126)
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

    static func document(using rng: inout SeededGenerator) -> String {
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

    static func ws(_ rng: inout SeededGenerator) -> String { spaces.randomElement(using: &rng)! }

    static func message(using rng: inout SeededGenerator) -> String {
        var members: [(String, String)] = []
        func maybe(_ percent: Int, _ name: String, _ pool: [String], _ rng: inout SeededGenerator) {
            guard Int.random(in: 0..<100, using: &rng) < percent else { return }
            let bad = Int.random(in: 0..<100, using: &rng) < 3
            members.append((name, (bad ? broken : pool).randomElement(using: &rng)!))
        }
        // Often plain values, so that many bodies are accepted and their messages compared.
        func plainOr(_ plain: [String], _ all: [String], _ rng: inout SeededGenerator) -> [String] {
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

    static func mutate(_ bytes: inout [UInt8], using rng: inout SeededGenerator) {
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
