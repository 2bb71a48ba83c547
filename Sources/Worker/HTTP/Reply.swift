import LivefeedProtocol

/// A response as handlers decide it; `HTTPService.respond` writes it with the connection's keep-alive rules.
struct Reply {
    var status: Int
    var contentType: String
    var body: [UInt8]
    var headers: [(String, String)] = []
    var cacheControl = "no-store"
    var headOnly = false
    /// The request's wish; a draining worker answers with `Connection: close` whatever it is.
    var keepAlive = true

    static func json(_ status: Int, _ body: [UInt8], keepAlive: Bool, headers: [(String, String)] = []) -> Reply {
        Reply(status: status, contentType: "application/json", body: body, headers: headers, keepAlive: keepAlive)
    }

    static func error(
        _ status: Int, _ code: String, _ message: String, keepAlive: Bool, headers: [(String, String)] = []
    ) -> Reply {
        .json(status, Envelope.errorBody(code: code, message: message), keepAlive: keepAlive, headers: headers)
    }
}
