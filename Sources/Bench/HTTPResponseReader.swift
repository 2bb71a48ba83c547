/// Reassembles HTTP/1.1 responses from bytes split anywhere: a head, then a Content-Length body. Enough for
/// the server's own answers (it always sends Content-Length); chunked bodies are refused.
struct HTTPResponseReader {
    struct Response {
        var status: Int
        var head: String
        var body: [UInt8]

        /// A header value by case-insensitive name.
        func header(_ name: String) -> String? {
            let wanted = name.lowercased()
            for line in head.split(separator: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                if line[..<colon].lowercased() == wanted {
                    return String(line[line.index(after: colon)...].trimmingSpaces)
                }
            }
            return nil
        }
    }

    enum Failure: Error, CustomStringConvertible {
        case malformed(String)
        var description: String {
            switch self {
            case .malformed(let s): "malformed response: \(s)"
            }
        }
    }

    private(set) var buffer: [UInt8] = []
    private var pending: (status: Int, head: String, length: Int)?
    let maxHeadBytes = 16 * 1024
    let maxBodyBytes = 16 << 20

    mutating func feed(_ bytes: UnsafeRawBufferPointer) { buffer.append(contentsOf: bytes) }

    /// The next complete response, if all of it has arrived.
    mutating func next(bodyless: Bool = false) throws(Failure) -> Response? {
        if pending == nil {
            guard let end = Self.headEnd(buffer) else {
                if buffer.count > maxHeadBytes { throw .malformed("head longer than \(maxHeadBytes) bytes") }
                return nil
            }
            let head = String(decoding: buffer[0..<end], as: UTF8.self)
            buffer.removeFirst(end + 4)
            let parts = head.prefix { $0 != "\r" }.split(separator: " ")
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
                throw .malformed("status line '\(head.prefix { $0 != "\r" })'")
            }
            var length = 0
            if !bodyless && status != 101 && status != 204 && status != 304 {
                let r = Response(status: status, head: head, body: [])
                if r.header("Transfer-Encoding") != nil { throw .malformed("chunked body") }
                guard let l = r.header("Content-Length").flatMap({ Int($0) }), (0...maxBodyBytes).contains(l) else {
                    throw .malformed("missing or bad Content-Length")
                }
                length = l
            }
            pending = (status, head, length)
        }
        guard let p = pending, buffer.count >= p.length else { return nil }
        let body = Array(buffer[0..<p.length])
        buffer.removeFirst(p.length)
        pending = nil
        return Response(status: p.status, head: p.head, body: body)
    }

    /// Bytes after the last complete response (e.g. WebSocket frames right behind a 101).
    mutating func takeRemainder() -> [UInt8] {
        defer { buffer = [] }
        return buffer
    }

    /// Offset of the "\r\n\r\n" ending a head.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }
}
