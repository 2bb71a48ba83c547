import Glibc
import LivefeedProtocol

/// Short responses the supervisor writes itself at the door: refusals and its own endpoints.
extension Supervisor {
    struct DoorResponse {
        var status: Int
        var contentType: String
        var body: [UInt8]
        var headers: [(String, String)] = []
        /// Answer to a HEAD request: the headers of the full body, without it.
        var headOnly = false
    }

    /// A refusal body: JSON `{"error":{"code","message"}}` for /api, /live and unknown paths, a small HTML page
    /// for pages (whose users read it).
    func refusalResponse(
        status: Int, code: String, message: String, path: String?, retryAfterSeconds: Int?
    ) -> DoorResponse {
        var headers: [(String, String)] = []
        if let retryAfterSeconds { headers.append(("Retry-After", String(retryAfterSeconds))) }
        if let path, !Self.wantsJSON(path: path) {
            let title = "\(status) \(HTTPResponse.reasonPhrase(status))"
            let retry = retryAfterSeconds.map { " Please retry in \($0) seconds." } ?? ""
            let html = """
                <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(title)</title></head>
                <body><h1>\(title)</h1><p>\(HTMLText.escape(message)).\(retry)</p></body></html>

                """
            return DoorResponse(
                status: status, contentType: "text/html; charset=utf-8", body: Array(html.utf8), headers: headers)
        }
        return DoorResponse(
            status: status, contentType: "application/json", body: errorJSON(code, message), headers: headers)
    }

    static func wantsJSON(path: String) -> Bool {
        for prefix in ["/api", "/live"] where path == prefix || path.hasPrefix(prefix + "/") { return true }
        return false
    }

    func errorJSON(_ code: String, _ message: String) -> [UInt8] {
        Envelope.errorBody(code: code, message: message)
    }

    /// Writes a short response to a connection already taken out of `pending`, and closes it. A non-empty
    /// `reason` marks a refusal: counted, logged and remembered for /status. The request bytes are read first:
    /// closing a socket with unread input makes the kernel send RST, which can destroy the response before the
    /// client reads it.
    func write(_ p: PendingConnection, _ r: DoorResponse, status: Int, reason: String, view: ConnectionView?) {
        if !reason.isEmpty {
            metrics.countRefused(view: view, reason: reason)
            refusalsLastMinute.add(reason, nowMilliseconds: clock.nowMilliseconds)
            journal.emit(
                status >= 500 ? .warning : .info, .connectionRefused,
                [
                    "reason": .string(reason), "status": .int(Int64(status)), "client": .string(p.client),
                    "conn": .int(Int64(p.id)), "view": .string(view?.rawValue ?? "unknown"),
                ])
            recentRefusals.add(
                time: Timestamp.now(), "\(status) \(reason)", "\(p.client) view \(view?.rawValue ?? "unknown")")
        }
        let read = try? peekBuffer.withUnsafeMutableBytes { raw throws(SystemError) in try p.fd.read(into: raw) }
        // A HEAD request's answer carries no content (RFC 9110 §9.3.2), also when its head was refused before it was
        // parsed (too long, malformed, too slow): the method is the first word of what the client sent.
        var headOnly = r.headOnly
        if case .done(let n)? = read, n >= 5 { headOnly = headOnly || peekBuffer.prefix(5).elementsEqual("HEAD ".utf8) }
        var headers = HTTPHeaders()
        headers.add("Content-Type", r.contentType)
        headers.add("Cache-Control", "no-store")
        for (k, v) in r.headers { headers.add(k, v) }
        let bytes = HTTPResponse(status: status, headers: headers, body: r.body)
            .encode(keepAlive: false, headOnly: headOnly)
        _ = try? bytes.withUnsafeBytes { raw throws(SystemError) in try p.fd.write(raw) }
        p.fd.shutdownWrite()
        p.fd.close()
    }
}
