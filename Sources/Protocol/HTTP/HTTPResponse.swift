/// A complete response (status, header fields, body bytes) and its HTTP/1.1 wire encoding.
///
/// `encode` owns message framing: it writes Content-Length itself and Connection: close when the connection is
/// to end, so callers set only the other fields.
package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: HTTPHeaders
    package var body: [UInt8]

    package init(status: Int, headers: HTTPHeaders = .init(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response whose body is `body` in UTF-8, labelled with `contentType` (e.g. "text/html; charset=utf-8").
    package init(status: Int, contentType: String, body: String) {
        self.init(status: status, headers: ["Content-Type": contentType], body: Array(body.utf8))
    }

    /// Whether this status may carry a body at all (RFC 9110 §15.2, §15.3.5, §15.4.5).
    package var statusAllowsBody: Bool {
        !(100...199).contains(status) && status != 204 && status != 304
    }

    /// Serializes status line + headers + body. Adds Content-Length (unless the status forbids a body: 1xx/204/304
    /// or `headOnly`) and `Connection: close` when keepAlive is false.
    ///
    /// - A Content-Length set by the caller is replaced by the body's length when one is written, dropped for
    ///   1xx/204 (RFC 9110 §8.6 forbids it there) and kept for 304 and `headOnly`, where it may announce the
    ///   length a GET would have had.
    /// - `keepAlive == false` replaces any Connection field by `Connection: close`.
    /// - `requestVersionMinor == 0` with `keepAlive` adds `Connection: keep-alive` unless a Connection field is
    ///   set, since an HTTP/1.0 client assumes close without it (RFC 9112 §9.3).
    /// - No body is written for 1xx/204/304 or `headOnly`.
    /// - Field lines whose name is not a token are left out, and CR, LF and other control characters in values
    ///   become spaces, so that no value can inject a field line or end the head (response splitting).
    package func encode(keepAlive: Bool, headOnly: Bool = false, requestVersionMinor: Int = 1) -> [UInt8] {
        let writesBody = statusAllowsBody && !headOnly
        let dropsCallerLength = writesBody || !(statusAllowsBody || status == 304)

        var out: [UInt8] = []
        out.reserveCapacity(64 + headers.count * 32 + (writesBody ? body.count : 0))
        append("HTTP/1.1 \(Self.statusCode(status)) \(Self.reasonPhrase(status))\r\n", to: &out)

        var hasConnection = false
        for (name, value) in headers where HTTPSyntax.isToken(name) {
            let isConnection = HTTPSyntax.equalsIgnoringCase(name, "Connection")
            if isConnection && !keepAlive { continue }
            if dropsCallerLength && HTTPSyntax.equalsIgnoringCase(name, "Content-Length") { continue }
            hasConnection = hasConnection || isConnection
            append(name, to: &out)
            append(": ", to: &out)
            for byte in value.utf8 {
                out.append(HTTPSyntax.isFieldValueByte(byte) ? byte : HTTPSyntax.space)
            }
            append("\r\n", to: &out)
        }
        if writesBody {
            append("Content-Length: \(body.count)\r\n", to: &out)
        }
        if !keepAlive {
            append("Connection: close\r\n", to: &out)
        } else if requestVersionMinor == 0 && !hasConnection {
            append("Connection: keep-alive\r\n", to: &out)
        }
        append("\r\n", to: &out)
        if writesBody {
            out.append(contentsOf: body)
        }
        return out
    }

    /// The reason phrase RFC 9110 §15 (and RFC 6585 for 428/429/431) gives `status`; empty when unknown, which
    /// the status-line grammar allows.
    package static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Content"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }

    /// The three-digit status-code; a status outside 100...999 is a programming error.
    private static func statusCode(_ status: Int) -> Int {
        precondition((100...999).contains(status), "HTTP status \(status) is not three digits")
        return status
    }

    private func append(_ text: String, to out: inout [UInt8]) {
        out.append(contentsOf: text.utf8)
    }
}
