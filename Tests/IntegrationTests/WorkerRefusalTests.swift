import Foundation
import Testing

/// Refusals answered by workers (before an upgrade) are refusals too: counted by view and reason in /metrics and
/// shown on /status, like the door's own.
struct WorkerRefusalTests {
    @Test func refusalsAnsweredByWorkersAreCountedAndShown() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let asked: [(path: String, origin: String?, status: Int)] = [
                ("/live/metrics", "http://evil.example", 403),
                ("/live/metrics", "http://evil.example", 403),
                ("/live/channels/\(channel)?format=xml", nil, 400),
                ("/live/channels/999999", nil, 404),
            ]
            for (path, origin, status) in asked {
                let handshake = try WebSocketClient.handshake(
                    port: server.port, path: path, origin: origin ?? "http://127.0.0.1:\(server.port)")
                guard case .refused(let response) = handshake else {
                    Issue.record("\(path) was upgraded")
                    continue
                }
                #expect(response.status == status, "\(path): \(response)")
            }
            let expected = [
                #"livefeed_connections_refused_total{view="metrics",reason="origin_not_allowed"}"#: 2.0,
                #"livefeed_connections_refused_total{view="channel",reason="bad_query"}"#: 1.0,
                #"livefeed_connections_refused_total{view="channel",reason="not_found"}"#: 1.0,
            ]
            try eventually(timeout: .seconds(10), "the refusals are counted") {
                let samples = try server.prometheusSamples()
                return expected.allSatisfy { samples[$0.key] == $0.value }
            }
            let status = try server.http.get("/status").text
            for reason in ["origin_not_allowed", "bad_query", "not_found"] {
                #expect(status.contains(reason), "/status shows \(reason)")
            }
            #expect(!status.contains("Refusals: None"))
        }
    }
}

/// RFC 6455 §4.1 and §11.3.1: an upgrade is HTTP/1.1 or later and carries exactly one Sec-WebSocket-Key; a server
/// that took the first of two, or a 1.0 request, answered 101 where the client may not expect it.
struct LooseHandshakeTests {
    @Test func upgradesWithTwoKeysOrOverHTTP10AreRefused() throws {
        try withLivefeed(workers: 1) { server in
            let key = "dGhlIHNhbXBsZSBub25jZQ=="
            let common = "Host: 127.0.0.1:\(server.port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:\(server.port)\r\n"
            for (request, code) in [
                ("GET /live/metrics HTTP/1.1\r\n" + common + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Key: "
                    + "AQIDBAUGBwgJCgsMDQ4PEA==\r\n\r\n", "bad_key"),
                ("GET /live/metrics HTTP/1.0\r\n" + common + "Sec-WebSocket-Key: \(key)\r\n\r\n", "bad_version"),
            ] {
                let connection = try HTTPConnection(port: server.port)
                defer { connection.close() }
                try connection.sendRaw(Array(request.utf8))
                let response = try connection.readResponse()
                #expect(response.status == 400, "\(code): \(response)")
                #expect(try response.jsonObject().object("error")?.string("code") == code, "\(response)")
            }
            // The same request with one key over 1.1 is upgraded.
            let good = try HTTPConnection(port: server.port)
            defer { good.close() }
            try good.sendRaw(Array(("GET /live/metrics HTTP/1.1\r\n" + common + "Sec-WebSocket-Key: \(key)\r\n\r\n").utf8))
            #expect(try good.readResponse().status == 101)
        }
    }
}

/// A bad head is refused in the same words whether the door sees it (a connection's first request) or a worker does
/// (a later one on a keep-alive connection); a worker once answered with the parser's case name.
struct BadHeadMessageTests {
    @Test func theDoorAndTheWorkerRefuseABadHeadAlike() throws {
        try withLivefeed(workers: 1) { server in
            let bad = "GET /api/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: example.com\r\n\r\n"
            let door = try HTTPConnection(port: server.port)
            defer { door.close() }
            try door.sendRaw(Array(bad.utf8))
            let atTheDoor = try door.readResponse()

            let worker = try HTTPConnection(port: server.port)
            defer { worker.close() }
            #expect(try worker.get("/api/metrics").status == 200)
            try worker.sendRaw(Array(bad.utf8))
            let inAWorker = try worker.readResponse()

            for response in [atTheDoor, inAWorker] {
                #expect(response.status == 400, "\(response)")
                let error = try response.jsonObject().object("error")
                #expect(error?.string("code") == "bad_request", "\(response)")
                #expect(error?.string("message") == "Host is missing, repeated or malformed", "\(response)")
            }
        }
    }
}

/// RFC 9110 §9.3.2: the answer to HEAD has no content, refusals included: those the workers make before an upgrade
/// and those the door makes before a head is even parsed.
struct HeadRefusalTests {
    @Test func refusalsOfHEADCarryNoContent() throws {
        try withLivefeed(workers: 1) { server in
            for (target, extra, status) in [
                ("/live/metrics", "", 405), ("/live/nope", "", 404),
                ("/" + String(repeating: "a", count: 9000), "", 414),
                ("/api/metrics", "X-Long: " + String(repeating: "a", count: 9000) + "\r\n", 431),
            ] {
                let connection = try HTTPConnection(port: server.port)
                defer { connection.close() }
                try connection.sendRaw(Array("HEAD \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(extra)\r\n".utf8))
                let response = try connection.readResponse(forMethod: "HEAD")
                let label = "HEAD \(target.prefix(20)): \(response.status)"
                #expect(response.status == status, "\(label)")
                // The refusal closes the connection: whatever follows the head until then would be content.
                let rest = try connection.socket.readToEnd(
                    limit: 1 << 16, deadline: .now + .seconds(10), waitingFor: "the server's close")
                #expect(rest.isEmpty, "\(label): \(rest.count) bytes of content")
            }
        }
    }
}

struct MethodNotAllowedTests {
    @Test func every405SaysWhichMethodsAreAllowed() throws {
        try withLivefeed(workers: 1) { server in
            for (method, path, allow) in [
                ("DELETE", "/api/messages", "POST"), ("GET", "/api/messages", "POST"), ("PUT", "/channels", "GET, HEAD"), ("POST", "/api/channels", "GET, HEAD"),
                ("POST", "/healthz", "GET, HEAD"),
            ] {
                let connection = try HTTPConnection(port: server.port)
                defer { connection.close() }
                let response = try connection.request(method, path, headers: [], body: [], closeAfter: true)
                #expect(response.status == 405, "\(method) \(path): \(response)")
                #expect(response.header("Allow") == allow, "\(method) \(path): \(response)")
            }
        }
    }
}
