/// A request head: the request-line, the header fields, and what they mean for routing and message framing.
///
/// Built by `RequestHeadParser`, or directly by `init(method:target:versionMinor:headers:maxQueryPairs:)`,
/// which applies the same checks. Afterwards the properties are plain values that callers may change.
package struct HTTPRequestHead: Sendable, Equatable {
    /// Case-sensitive, e.g. "GET" (RFC 9110 §9.1).
    package var method: String
    /// The raw request-target, e.g. "/channels/3?after_id=5".
    package var target: String
    /// HTTP/1.x → x; only 0 and 1 are accepted.
    package var versionMinor: Int
    package var headers: HTTPHeaders
    /// The target's path, percent-decoded ("+" stays "+"); "/" for an absolute-form target without a path, "*"
    /// for asterisk-form. Dot-segments are not resolved and "%2F" decodes to "/", so route by exact match.
    package var path: String
    /// The target's query, percent-decoded with "+" as space, in order, names possibly repeated.
    package var query: [(name: String, value: String)]
    /// Whether the connection may carry another request after this one (RFC 9112 §9.3).
    package var keepAlive: Bool
    /// The agreed Content-Length, if any was sent.
    package var contentLength: Int?
    /// Transfer-Encoding ends with chunked; then `contentLength` is nil.
    package var isChunked: Bool

    /// Validates and interprets a request head.
    ///
    /// Checks the method is a token, the version, the target's form and its percent-encoding (at most
    /// `maxQueryPairs` query pairs), Host (RFC 9112 §3.2) and the framing fields (RFC 9112 §6).
    package init(
        method: String,
        target: String,
        versionMinor: Int = 1,
        headers: HTTPHeaders = .init(),
        maxQueryPairs: Int = 64
    ) throws(HTTPHeadError) {
        guard HTTPSyntax.isToken(method) else { throw .malformedRequestLine }
        guard versionMinor == 0 || versionMinor == 1 else { throw .unsupportedVersion }
        guard let parts = Self.splitTarget(target, method: method),
            let path = URLQuery.percentDecode(parts.path, plusAsSpace: false),
            let query = URLQuery.parse(parts.query, maxPairs: maxQueryPairs)
        else { throw .invalidTarget }
        try Self.checkHost(headers, versionMinor: versionMinor)
        let framing = try Self.framing(headers, versionMinor: versionMinor)

        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        self.path = path.isEmpty ? "/" : path
        self.query = query
        self.keepAlive = Self.keepAlive(headers, versionMinor: versionMinor)
        self.contentLength = framing.contentLength
        self.isChunked = framing.isChunked
    }

    /// The first value of the query parameter `name` (names compared exactly).
    package func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// The authority the client addressed: an absolute-form target's, else the Host field (RFC 9112 §3.2.2).
    package var host: String? {
        if let authority = Self.splitTarget(target, method: method)?.authority { return String(authority) }
        return headers["Host"]
    }

    package static func == (lhs: HTTPRequestHead, rhs: HTTPRequestHead) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.versionMinor == rhs.versionMinor
            && lhs.headers == rhs.headers && lhs.path == rhs.path && lhs.keepAlive == rhs.keepAlive
            && lhs.contentLength == rhs.contentLength && lhs.isChunked == rhs.isChunked
            && lhs.query.count == rhs.query.count
            && zip(lhs.query, rhs.query).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    private static func keepAlive(_ headers: HTTPHeaders, versionMinor: Int) -> Bool {
        if headers.containsToken("close", in: "Connection") { return false }
        return versionMinor >= 1 || headers.containsToken("keep-alive", in: "Connection")
    }
}
