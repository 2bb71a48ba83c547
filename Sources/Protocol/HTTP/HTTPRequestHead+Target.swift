extension HTTPRequestHead {
    /// The pieces of a request-target, still percent-encoded.
    struct TargetParts {
        var path: Substring
        var query: Substring
        /// Only for absolute-form.
        var authority: Substring?
    }

    /// Splits origin-form (`/path?query`), absolute-form (`http://authority/path?query`) and asterisk-form
    /// (`*`, OPTIONS only) targets (RFC 9112 §3.2). `nil` for anything else, authority-form included: this
    /// server is not a proxy and has no use for CONNECT.
    static func splitTarget(_ target: String, method: String) -> TargetParts? {
        let utf8 = target.utf8
        guard !utf8.isEmpty, utf8.allSatisfy(HTTPSyntax.isTargetByte) else { return nil }
        if target == "*" {
            return method == "OPTIONS" ? TargetParts(path: "*", query: "", authority: nil) : nil
        }
        var rest = target[...]
        var authority: Substring?
        if utf8.first != UInt8(ascii: "/") {
            guard let absolute = splitAbsoluteForm(rest) else { return nil }
            authority = absolute.authority
            rest = absolute.rest
        }
        guard let questionMark = rest.utf8.firstIndex(of: UInt8(ascii: "?")) else {
            return TargetParts(path: rest, query: "", authority: authority)
        }
        let queryStart = rest.utf8.index(after: questionMark)
        return TargetParts(path: rest[..<questionMark], query: rest[queryStart...], authority: authority)
    }

    /// Whether `value` is `uri-host [":" port]` written with the characters RFC 3986 allows there (reg-name,
    /// IP-literal, IPv4, percent-escapes). Empty is allowed: RFC 9112 §3.2 lets clients send `Host:` empty.
    static func isValidHost(_ value: some StringProtocol) -> Bool {
        value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                "-._~!$&'()*+,;=%:[]".utf8.contains(byte)
            }
        }
    }

    static func checkHost(_ headers: HTTPHeaders, versionMinor: Int) throws(HTTPHeadError) {
        let hosts = headers.values("Host")
        switch hosts.count {
        case 0 where versionMinor >= 1: throw .invalidHost
        case 0: return
        case 1: guard isValidHost(hosts[0]) else { throw .invalidHost }
        default: throw .invalidHost
        }
    }

    /// `scheme "://" authority` and whatever follows (path and query), for http and https only.
    private static func splitAbsoluteForm(_ target: Substring) -> (authority: Substring, rest: Substring)? {
        let utf8 = target.utf8
        guard let colon = utf8.firstIndex(of: HTTPSyntax.colon) else { return nil }
        let scheme = target[..<colon]
        guard HTTPSyntax.equalsIgnoringCase(scheme, "http") || HTTPSyntax.equalsIgnoringCase(scheme, "https"),
            target[colon...].utf8.starts(with: "://".utf8)
        else { return nil }
        let authorityStart = utf8.index(colon, offsetBy: 3)
        let authorityEnd =
            target[authorityStart...].utf8.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
            ?? target.endIndex
        let authority = target[authorityStart..<authorityEnd]
        // RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as an error; isValidHost refuses "@".
        guard !authority.isEmpty, isValidHost(authority) else { return nil }
        return (authority, target[authorityEnd...])
    }
}
