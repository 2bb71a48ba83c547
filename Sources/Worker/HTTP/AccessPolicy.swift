import LivefeedProtocol

/// Who may open live connections and post messages: an Origin allow-list (same origin by default) and an optional
/// access token, accepted as `Authorization: Bearer`, the `livefeed_token` cookie, or the `access_token` query
/// parameter (browsers cannot set headers on a WebSocket). The token is compared in constant time and never logged.
struct AccessPolicy {
    let allowedOrigins: [String]
    let token: [UInt8]?

    init(config: WorkerConfig) {
        allowedOrigins = config.allowedOrigins.map { $0.lowercased() }
        token = config.accessToken.map { Array($0.utf8) }
    }

    /// A request without Origin (not a browser) passes. A browser's Origin passes when it is the same origin as the
    /// Host it asked for (always: a page may talk to its own server), or listed in `--allowed-origins`, which adds
    /// to the same origin; `*` in the list allows any.
    func originAllowed(_ head: HTTPRequestHead) -> Bool {
        guard let origin = head.headers["Origin"]?.lowercased() else { return true }
        if allowedOrigins.contains("*") || allowedOrigins.contains(origin) { return true }
        // Bytes, not `range(of:)`: that is Foundation's locale-aware search, measurable on every handshake.
        let o = Array(origin.utf8)
        guard let host = head.headers["Host"]?.lowercased(), o.count >= 3,
            let schemeEnd = (0...(o.count - 3)).first(where: { o[$0] == 58 && o[$0 + 1] == 47 && o[$0 + 2] == 47 })
        else { return false }
        return o[(schemeEnd + 3)...].elementsEqual(host.utf8)
    }

    func tokenAccepted(_ head: HTTPRequestHead) -> Bool {
        guard let token else { return true }
        if let auth = head.headers["Authorization"], auth.lowercased().hasPrefix("bearer ") {
            return Self.constantTimeEqual(Array(auth.utf8.dropFirst(7)), token)
        }
        if let cookies = head.headers["Cookie"] {
            for pair in cookies.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == "livefeed_token" {
                    return Self.constantTimeEqual(Array(parts[1].utf8), token)
                }
            }
        }
        if let query = head.queryValue("access_token") {
            return Self.constantTimeEqual(Array(query.utf8), token)
        }
        return false
    }

    /// Compares without an early exit, so timing tells nothing about where the first difference is. The lengths
    /// are compared in full: folding them into a byte would let a value 256 bytes longer, padded with NULs, pass.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff: UInt8 = 0
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0 && a.count == b.count
    }
}
