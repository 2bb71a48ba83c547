import Foundation

/// One raw HTTP/1.1 connection to the server under test, for keep-alive and hand-made requests.
///
/// Owns a `TCPSocket`. Requests are written by hand (no URLSession), so tests control every byte and can send
/// malformed or oversized heads. Not thread-safe; one test uses it at a time.
final class HTTPConnection {
    let port: UInt16
    let socket: TCPSocket

    /// Connects to the server, from `sourceAddress` (e.g. "127.0.0.2") when given.
    init(port: UInt16, from sourceAddress: String? = nil, timeout: Duration = .seconds(5)) throws {
        self.port = port
        self.socket = try TCPSocket(connectingToPort: port, from: sourceAddress, timeout: timeout)
    }

    /// The client-side port of this connection.
    var localPort: UInt16 { socket.localPort }

    /// Sends one request. Adds Host, Content-Length (when there is a body) and, if `closeAfter`, Connection: close.
    func send(
        _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        closeAfter: Bool = false
    ) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        if closeAfter { head += "Connection: close\r\n" }
        head += "\r\n"
        try socket.send(Array(head.utf8) + (body ?? []), timeout: .seconds(10))
    }

    /// Sends bytes exactly as given.
    func sendRaw(_ bytes: [UInt8]) throws {
        try socket.send(bytes, timeout: .seconds(10))
    }

    /// Reads the next response on this connection.
    func readResponse(forMethod method: String = "GET", timeout: Duration = .seconds(10)) throws -> HTTPResponse {
        try HTTPResponse.read(from: socket, requestMethod: method, deadline: .now + timeout)
    }

    /// Sends a request and reads its response.
    func request(
        _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        closeAfter: Bool = false, timeout: Duration = .seconds(10)
    ) throws -> HTTPResponse {
        try send(method, path, headers: headers, body: body, closeAfter: closeAfter)
        return try readResponse(forMethod: method, timeout: timeout)
    }

    func get(_ path: String, headers: [(String, String)] = [], closeAfter: Bool = false) throws -> HTTPResponse {
        try request("GET", path, headers: headers, closeAfter: closeAfter)
    }

    func post(_ path: String, body: [UInt8], contentType: String = "application/json", closeAfter: Bool = false)
        throws -> HTTPResponse
    {
        try request("POST", path, headers: [("Content-Type", contentType)], body: body, closeAfter: closeAfter)
    }

    /// True once the server has closed its side: a read returns EOF (or reset) within `timeout`.
    func serverClosed(within timeout: Duration) -> Bool {
        do {
            return try !socket.fill(deadline: .now + timeout, waitingFor: "EOF")
        } catch let error as SocketError {
            return error.isPeerGone
        } catch {
            return false
        }
    }

    func close() { socket.close() }
}

/// One-request-per-connection HTTP client for the server under test: each call opens a connection, sends the
/// request with `Connection: close`, reads the response and closes.
struct HTTPClient {
    let port: UInt16

    func get(_ path: String, headers: [(String, String)] = []) throws -> HTTPResponse {
        let connection = try HTTPConnection(port: port)
        defer { connection.close() }
        return try connection.get(path, headers: headers, closeAfter: true)
    }

    func post(_ path: String, body: [UInt8], contentType: String = "application/json") throws -> HTTPResponse {
        let connection = try HTTPConnection(port: port)
        defer { connection.close() }
        return try connection.post(path, body: body, contentType: contentType, closeAfter: true)
    }

    func post(_ path: String, body: String, contentType: String = "application/json") throws -> HTTPResponse {
        try post(path, body: Array(body.utf8), contentType: contentType)
    }

    /// POSTs `object` serialized by JSONSerialization.
    func postJSON(_ path: String, _ object: Any) throws -> HTTPResponse {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed])
        return try post(path, body: Array(data))
    }

    /// Sends `bytes` as they are on a new connection and reads one response.
    func sendRaw(_ bytes: [UInt8], responseTo method: String = "GET") throws -> HTTPResponse {
        let connection = try HTTPConnection(port: port)
        defer { connection.close() }
        try connection.sendRaw(bytes)
        return try connection.readResponse(forMethod: method)
    }
}
