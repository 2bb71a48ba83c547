/// One node of a parsed HTML fragment.
enum HTMLNode {
    case element(HTMLElement)
    case text(String)
}

/// An element of a parsed HTML fragment: its name (lowercased), attributes (values with entities decoded) and
/// children.
struct HTMLElement {
    var name: String
    var attributes: [String: String]
    var children: [HTMLNode]

    func attribute(_ name: String) -> String? { attributes[name] }

    /// The child elements, in order.
    var elements: [HTMLElement] {
        children.compactMap {
            if case .element(let e) = $0 { e } else { nil }
        }
    }

    /// This element and all elements below it, depth first.
    var allElements: [HTMLElement] { [self] + elements.flatMap(\.allElements) }

    /// The text of all descendants, entities decoded.
    var textContent: String {
        children.map {
            switch $0 {
            case .element(let e): e.textContent
            case .text(let t): t
            }
        }.joined()
    }
}

struct HTMLParseError: Error, CustomStringConvertible {
    var description: String
}

/// A small, strict parser for the HTML fragments livefeed sends (live `format=html` frames and `/fragments/...`):
/// elements with quoted or bare attributes, text, character references, comments and void elements. It is not
/// a browser: anything it does not understand (an unclosed or mismatched element, a stray `<`) is an error, which
/// is what a test of server-rendered fragments wants.
enum HTMLFragment {
    static let voidElements: Set<String> = [
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
    ]

    /// The top-level nodes of `html`. Whitespace-only text between top-level elements is dropped.
    static func parse(_ html: String) throws -> [HTMLNode] {
        var parser = Parser(Array(html.unicodeScalars))
        let nodes = try parser.nodes(until: nil)
        return nodes.filter {
            if case .text(let t) = $0 { !t.allSatisfy { $0.isWhitespace } } else { true }
        }
    }

    /// The top-level elements of `html`; top-level text other than whitespace is an error.
    static func topLevelElements(_ html: String) throws -> [HTMLElement] {
        try parse(html).map {
            switch $0 {
            case .element(let e): return e
            case .text(let t): throw HTMLParseError(description: "text at top level: \(t.prefix(80).debugDescription)")
            }
        }
    }

    /// Decodes the character references the server may write (named basics, decimal and hex).
    static func decodeEntities(_ s: String) throws -> String {
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";"), rest.distance(from: amp, to: semi) <= 10 else {
                throw HTMLParseError(
                    description: "unterminated character reference in \(s.prefix(80).debugDescription)")
            }
            let name = rest[rest.index(after: amp)..<semi]
            switch name {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let value: UInt32?
                if name.hasPrefix("#x") || name.hasPrefix("#X") {
                    value = UInt32(name.dropFirst(2), radix: 16)
                } else if name.hasPrefix("#") {
                    value = UInt32(name.dropFirst())
                } else {
                    value = nil
                }
                guard let value, let scalar = Unicode.Scalar(value) else {
                    throw HTMLParseError(description: "unknown character reference &\(name);")
                }
                out.unicodeScalars.append(scalar)
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }

    private struct Parser {
        let input: [Unicode.Scalar]
        var i = 0

        init(_ input: [Unicode.Scalar]) { self.input = input }

        var atEnd: Bool { i >= input.count }

        func peek(_ offset: Int = 0) -> Unicode.Scalar? { i + offset < input.count ? input[i + offset] : nil }

        func context() -> String {
            String(String.UnicodeScalarView(input[max(0, i - 20)..<min(input.count, i + 40)])).debugDescription
        }

        mutating func nodes(until closing: String?) throws -> [HTMLNode] {
            var nodes: [HTMLNode] = []
            var text = ""
            func flushText() throws {
                if !text.isEmpty { nodes.append(.text(try HTMLFragment.decodeEntities(text))) }
                text = ""
            }
            while let c = peek() {
                guard c == "<" else {
                    text.unicodeScalars.append(c)
                    i += 1
                    continue
                }
                try flushText()
                if peek(1) == "!" && peek(2) == "-" && peek(3) == "-" {
                    try skipComment()
                } else if peek(1) == "/" {
                    i += 2
                    let name = readName()
                    guard peek() == ">" else { throw HTMLParseError(description: "bad end tag near \(context())") }
                    i += 1
                    guard name == closing else {
                        throw HTMLParseError(
                            description:
                                "</\(name)> while \(closing.map { "<\($0)>" } ?? "nothing") is open near \(context())")
                    }
                    return nodes
                } else if let next = peek(1), next.properties.isAlphabetic {
                    nodes.append(.element(try element()))
                } else {
                    throw HTMLParseError(description: "stray '<' near \(context())")
                }
            }
            try flushText()
            if let closing { throw HTMLParseError(description: "<\(closing)> is never closed") }
            return nodes
        }

        mutating func element() throws -> HTMLElement {
            i += 1  // "<"
            let name = readName()
            var attributes: [String: String] = [:]
            while true {
                skipSpace()
                guard let c = peek() else { throw HTMLParseError(description: "unterminated <\(name)> tag") }
                if c == ">" {
                    i += 1
                    break
                }
                if c == "/" && peek(1) == ">" {
                    i += 2
                    return HTMLElement(name: name, attributes: attributes, children: [])
                }
                let attribute = readName()
                guard !attribute.isEmpty else { throw HTMLParseError(description: "bad attribute near \(context())") }
                guard attributes[attribute] == nil else {
                    throw HTMLParseError(description: "duplicate attribute \(attribute) near \(context())")
                }
                skipSpace()
                if peek() == "=" {
                    i += 1
                    skipSpace()
                    attributes[attribute] = try HTMLFragment.decodeEntities(try readValue())
                } else {
                    attributes[attribute] = ""
                }
            }
            if HTMLFragment.voidElements.contains(name) {
                return HTMLElement(name: name, attributes: attributes, children: [])
            }
            return HTMLElement(name: name, attributes: attributes, children: try nodes(until: name))
        }

        mutating func readName() -> String {
            var name = ""
            while let c = peek(),
                c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == "_" || c == ":"
            {
                name.unicodeScalars.append(c)
                i += 1
            }
            return name.lowercased()
        }

        mutating func readValue() throws -> String {
            var value = ""
            if let quote = peek(), quote == "\"" || quote == "'" {
                i += 1
                while let c = peek(), c != quote {
                    value.unicodeScalars.append(c)
                    i += 1
                }
                guard peek() == quote else { throw HTMLParseError(description: "unterminated attribute value") }
                i += 1
                return value
            }
            while let c = peek(), !c.properties.isWhitespace, c != ">", c != "\"", c != "'", c != "<", c != "=" {
                value.unicodeScalars.append(c)
                i += 1
            }
            return value
        }

        mutating func skipSpace() {
            while let c = peek(), c.properties.isWhitespace { i += 1 }
        }

        mutating func skipComment() throws {
            i += 4
            while !atEnd {
                if peek() == "-" && peek(1) == "-" && peek(2) == ">" {
                    i += 3
                    return
                }
                i += 1
            }
            throw HTMLParseError(description: "unterminated comment")
        }
    }
}
