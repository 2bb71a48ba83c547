import Foundation

/// One parsed HTTP/1.1 response: status line, headers in arrival order, and the decoded body.
struct HTTPResponse: CustomStringConvertible {
    var status: Int
    var reason: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The first header named `name`, compared case-insensitively.
    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The body as UTF-8 text (invalid sequences repaired).
    var text: String { String(decoding: body, as: UTF8.self) }

    /// True when the Content-Type is `type` (e.g. "text/html"), ignoring parameters and case.
    func hasContentType(_ type: String) -> Bool {
        guard let value = header("Content-Type") else { return false }
        let mediaType = value.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return mediaType.caseInsensitiveCompare(type) == .orderedSame
    }

    /// True when the server announced it closes the connection after this response.
    var closesConnection: Bool {
        header("Connection")?.lowercased().split(separator: ",").contains {
            $0.trimmingCharacters(in: .whitespaces) == "close"
        }
            ?? false
    }

    /// The body parsed by JSONSerialization (fragments allowed).
    func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
    }

    /// The body as a JSON object; throws if it is anything else.
    func jsonObject() throws -> [String: Any] {
        guard let object = try json() as? [String: Any] else {
            throw SocketError.protocolViolation("body is not a JSON object: \(text.prefix(200))")
        }
        return object
    }

    var description: String {
        "HTTP \(status) \(reason) [\(headers.map { "\($0.name): \($0.value)" }.joined(separator: "; "))] \(text.prefix(300))"
    }
}

extension HTTPResponse {
    /// Reads one response from `socket`: head up to 64 KiB, then a Content-Length, chunked or read-to-close body.
    /// Interim 1xx responses other than 101 are skipped. A 101 has no body; bytes after it stay in the socket.
    static func read(from socket: TCPSocket, requestMethod: String, deadline: ContinuousClock.Instant) throws
        -> HTTPResponse
    {
        while true {
            let head = try socket.read(
                until: Array("\r\n\r\n".utf8), limit: 64 * 1024, deadline: deadline, waitingFor: "a response head")
            var response = try parseHead(head)
            if (100..<200).contains(response.status) && response.status != 101 { continue }
            response.body = try readBody(of: response, from: socket, requestMethod: requestMethod, deadline: deadline)
            return response
        }
    }

    private static func parseHead(_ bytes: [UInt8]) throws -> HTTPResponse {
        let lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw SocketError.protocolViolation("bad status line \(lines[0].debugDescription)")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw SocketError.protocolViolation("bad header line \(line.debugDescription)")
            }
            headers.append(
                (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let reason = statusParts.count > 2 ? String(statusParts[2]) : ""
        return HTTPResponse(status: status, reason: reason, headers: headers, body: [])
    }

    private static func readBody(
        of response: HTTPResponse, from socket: TCPSocket, requestMethod: String, deadline: ContinuousClock.Instant
    ) throws -> [UInt8] {
        if requestMethod == "HEAD" || response.status == 101 || response.status == 204 || response.status == 304 {
            return []
        }
        if let encoding = response.header("Transfer-Encoding"), encoding.lowercased().contains("chunked") {
            return try readChunked(from: socket, deadline: deadline)
        }
        if let lengthText = response.header("Content-Length") {
            guard let length = Int(lengthText), length >= 0 else {
                throw SocketError.protocolViolation("bad Content-Length \(lengthText)")
            }
            return try socket.read(exactly: length, deadline: deadline, waitingFor: "a \(length)-byte body")
        }
        return try socket.readToEnd(limit: 16 * 1024 * 1024, deadline: deadline, waitingFor: "a body ended by close")
    }

    private static func readChunked(from socket: TCPSocket, deadline: ContinuousClock.Instant) throws -> [UInt8] {
        var body: [UInt8] = []
        let crlf = Array("\r\n".utf8)
        while true {
            let sizeLine = String(
                decoding: try socket.read(until: crlf, limit: 1024, deadline: deadline, waitingFor: "a chunk size"),
                as: UTF8.self)
            let sizeText = sizeLine.split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw SocketError.protocolViolation("bad chunk size \(sizeLine.debugDescription)")
            }
            if size == 0 {
                // Trailers, then the empty line.
                while try !socket.read(until: crlf, limit: 8192, deadline: deadline, waitingFor: "trailers").isEmpty {}
                return body
            }
            body += try socket.read(exactly: size, deadline: deadline, waitingFor: "a chunk")
            _ = try socket.read(exactly: 2, deadline: deadline, waitingFor: "a chunk end")
        }
    }
}
