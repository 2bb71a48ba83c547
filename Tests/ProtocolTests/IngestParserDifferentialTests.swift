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

    /// Invalid JSON is compared by its code and the message's start: ours goes on to say what and where
    /// (`IngestParserStrictnessTests.invalidJSONSaysWhatAndWhere`), the Foundation reference cannot.
    static func current(_ body: [UInt8], allowKey: Bool) -> Outcome {
        switch IngestParser.parse(body, maxMessages: 3, allowKey: allowKey) {
        case .success(let m): .accepted(m)
        case .failure(let f) where f.code == "invalid_json" && f.message.hasPrefix("not valid JSON: "):
            .refused(code: f.code, message: "not valid JSON")
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
        var rng = SeededGenerator(seed: 7)
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
