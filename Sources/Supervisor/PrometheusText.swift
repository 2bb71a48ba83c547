/// Builds the Prometheus text exposition format (version 0.0.4): per family a `# HELP` and a `# TYPE` line, then
/// its samples, every name with the `livefeed_` prefix and label values escaped.
struct PrometheusText {
    private(set) var text = ""

    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP livefeed_\(name) \(help)\n# TYPE livefeed_\(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: some BinaryInteger) {
        text += "livefeed_\(name)"
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " \(value)\n"
    }

    /// A family with one unlabelled sample.
    mutating func single(_ name: String, _ type: String, _ help: String, _ value: some BinaryInteger) {
        family(name, type, help)
        sample(name, [], value)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }
}
