import LivefeedProtocol

/// Escaping for text placed in the supervisor's HTML pages.
enum HTMLText {
    static func escape(_ s: String) -> String { HTMLEscape.escape(s) }
}
