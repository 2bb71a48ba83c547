import Foundation
import Testing

/// README's table of error codes is the contract for clients: it must list every code the sources can send, and
/// nothing they cannot, with the statuses the sources pair them with.
struct ErrorCodeTableTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// (code, status where the call names one) for every literal error code in the sources.
    static func codesInSources() throws -> [(code: String, status: Int?)] {
        let patterns = [
            #"apiError\("([a-z_]+)""#, #"errorJSON\("([a-z_]+)""#, #"[^.]code: "([a-z_]+)""#,
            #"case \w+ = "([a-z]+_cap)""#, #"(?:failure|refuse|fail|error|refuseUpgrade\(c,) ?\(?(\d{3}), "([a-z_]+)""#,
            #"refuse\(\w+, status: (\d{3}), reason: "([a-z_]+)""#,
        ]
        // HTTPHeadError.code maps its cases to codes: `case .a, .b: "code"`.
        let headErrorCases = try NSRegularExpression(pattern: #"case \.[\w,\s.]+: "([a-z_]+)"\n"#)
        let expressions = try patterns.map { try NSRegularExpression(pattern: $0) }
        var found: [(String, Int?)] = []
        for folder in ["Sources/Worker", "Sources/Supervisor", "Sources/Protocol"] {
            let directory = root.appendingPathComponent(folder)
            let files = try FileManager.default.subpathsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }
            for file in files where file != "Records/LogEvent.swift" {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                let range = NSRange(text.startIndex..., in: text)
                for pattern in expressions + (file.hasSuffix("HTTPHeadError.swift") ? [headErrorCases] : []) {
                    for match in pattern.matches(in: text, range: range) {
                        let groups = (1..<match.numberOfRanges).map { String(text[Range(match.range(at: $0), in: text)!]) }
                        found.append(groups.count == 2 ? (groups[1], Int(groups[0])) : (groups[0], nil))
                    }
                }
            }
        }
        return found
    }

    /// code → statuses, from README's "## Errors" table.
    static func documented() throws -> [String: Set<Int>] {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "\n## Errors\n").dropFirst().first)
            .components(separatedBy: "\n## ")[0]
        var table: [String: Set<Int>] = [:]
        for line in section.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let code = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            table[code] = Set(cells[1].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
        }
        return table
    }

    @Test func everyCodeTheServerSendsIsDocumentedAndNoOther() throws {
        let sources = try Self.codesInSources()
        let table = try Self.documented()
        #expect(table.count > 20, "the table was found: \(table.keys.sorted())")
        let sent = Set(sources.map(\.code))
        #expect(sent.subtracting(table.keys).sorted() == [], "sent but not in README's Errors table")
        #expect(Set(table.keys).subtracting(sent).sorted() == [], "in README's Errors table but never sent")
        for (code, status) in sources {
            guard let status else { continue }
            #expect(table[code]?.contains(status) == true, "\(code) is sent with \(status); the table says \(table[code] ?? [])")
        }
    }
}
