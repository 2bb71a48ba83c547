/// Escaping for text placed in HTML, by the worker's pages and fragments and the supervisor's /status page.
package enum HTMLEscape {
    package static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\0": out += "\u{FFFD}"  // what an HTML parser shows for NUL anyway (HTML: "unexpected-null-character")
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
