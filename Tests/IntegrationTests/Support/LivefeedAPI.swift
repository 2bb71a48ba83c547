import Foundation

/// A response that is not what a helper needed, with the response for the failure message.
struct UnexpectedResponse: Error, CustomStringConvertible {
    var request: String
    var response: HTTPResponse
    var description: String { "\(request) answered \(response)" }
}

/// The JSON API calls tests use to set up state and read it back. Each call is one request on a new connection;
/// anything but the expected status throws `UnexpectedResponse`.
struct LivefeedAPI {
    let http: HTTPClient

    init(port: UInt16) { http = HTTPClient(port: port) }
    init(_ server: ServerProcess) { http = server.http }

    /// POSTs one message and returns its id.
    @discardableResult
    func post(channel: String = "general", user: String = "alice", text: String) throws -> Int {
        let ids = try post([["channel": channel, "user": user, "text": text]], asArray: false)
        guard ids.count == 1 else { throw SocketError.protocolViolation("one message, \(ids.count) ids: \(ids)") }
        return ids[0]
    }

    /// POSTs `items` (one object if `asArray` is false and there is one item) and returns the new ids.
    @discardableResult
    func post(_ items: [[String: Any]], asArray: Bool = true) throws -> [Int] {
        let body: Any = asArray || items.count != 1 ? items : items[0]
        let response = try http.postJSON("/api/messages", body)
        guard response.status == 201, let ids = try response.jsonObject()["ids"] as? [Any] else {
            throw UnexpectedResponse(request: "POST /api/messages", response: response)
        }
        return ids.compactMap(jsonInt)
    }

    /// POSTs `count` messages in one array, texts "`prefix` 1" ... "`prefix` count", and returns their ids.
    func postBatch(count: Int, prefix: String, channel: String = "general", user: String = "alice") throws -> [Int] {
        try post((1...count).map { ["channel": channel, "user": user, "text": "\(prefix) \($0)"] })
    }

    /// GETs `path` and returns its JSON object; the status must be 200.
    func getObject(_ path: String) throws -> [String: Any] {
        let response = try http.get(path)
        guard response.status == 200 else { throw UnexpectedResponse(request: "GET \(path)", response: response) }
        return try response.jsonObject()
    }

    func metrics() throws -> [String: Any] { try getObject("/api/metrics") }

    /// The entry of `/api/channels` named `name`, if listed.
    func channel(named name: String) throws -> [String: Any]? {
        try getObject("/api/channels").objects("channels")?.first { $0.string("name") == name }
    }

    /// The entry of `/api/users` named `name`, if listed.
    func user(named name: String) throws -> [String: Any]? {
        try getObject("/api/users").objects("users")?.first { $0.string("name") == name }
    }

    func channelID(named name: String) throws -> Int {
        guard let id = try channel(named: name)?.int("id") else {
            throw SocketError.protocolViolation("channel \(name) not in /api/channels")
        }
        return id
    }

    func userID(named name: String) throws -> Int {
        guard let id = try user(named: name)?.int("id") else {
            throw SocketError.protocolViolation("user \(name) not in /api/users")
        }
        return id
    }
}
