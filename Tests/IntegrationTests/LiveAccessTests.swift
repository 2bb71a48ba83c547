import Foundation
import Glibc
import Testing

/// Who may open live connections and post: the Origin allow-list (same origin by default) and the access token.
/// Every refusal comes before the upgrade.
struct LiveAccessTests {
    @Test func allowListAddsListedOriginsToTheSameOrigin() throws {
        try withLivefeed(arguments: ["--allowed-origins", "http://good.example"]) { server in
            try expectUpgrade(server, "/live/metrics", origin: .value("http://evil.example"), answers: 403)
            try expectUpgrade(server, "/live/metrics", origin: .value("http://good.example"), answers: 101)
            try expectUpgrade(server, "/live/metrics", origin: .serversOwn, answers: 101)
            try expectUpgrade(server, "/live/metrics", origin: .omitted, answers: 101)
        }
    }

    @Test func postsNeedJSONAndAnAllowedOriginWhenTheyCarryOne() throws {
        try withLivefeed(workers: 1, arguments: ["--allowed-origins", "http://good.example"]) { server in
            let body = Array(#"{"channel":"general","user":"alice","text":"hi"}"#.utf8)
            func status(_ headers: [(String, String)]) throws -> Int {
                let connection = try HTTPConnection(port: server.port)
                defer { connection.close() }
                return try connection.request("POST", "/api/messages", headers: headers, body: body, closeAfter: true)
                    .status
            }
            let own = "http://127.0.0.1:\(server.port)"
            // What a browser's no-cors fetch of a Blob sends: no Content-Type, no preflight.
            #expect(try status([]) == 415)
            #expect(try status([("Origin", "http://evil.example")]) == 403)
            #expect(try status([("Content-Type", "application/jsonx")]) == 415)
            #expect(try status([("Content-Type", "text/plain"), ("Origin", own)]) == 415)
            #expect(try status([("Content-Type", "application/json"), ("Origin", "http://evil.example")]) == 403)
            #expect(try status([("Content-Type", "application/json; charset=utf-8"), ("Origin", own)]) == 201)
            #expect(try status([("Content-Type", "Application/JSON"), ("Origin", "http://good.example")]) == 201)
            #expect(try status([("Content-Type", "application/json")]) == 201)
            let stored = try LivefeedAPI(server).metrics().int("messages")
            #expect(stored == 3, "only the three allowed posts are stored")
        }
    }

    @Test func withoutAllowListOnlyTheSameOriginIsAdmitted() throws {
        try withLivefeed { server in
            try expectUpgrade(server, "/live/metrics", origin: .value("http://127.0.0.1:\(server.port)"), answers: 101)
            try expectUpgrade(server, "/live/metrics", origin: .value("http://evil.example"), answers: 403)
            try expectUpgrade(
                server, "/live/metrics", origin: .value("http://127.0.0.1:\(server.port &+ 1)"), answers: 403)
            try expectUpgrade(server, "/live/metrics", origin: .value("https://127.0.0.1.evil.example"), answers: 403)
            try expectUpgrade(server, "/live/metrics", origin: .omitted, answers: 101)
        }
    }

    @Test func tokenFileGuardsLiveAndIngestButNotReads() throws {
        let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-token-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max)) }.joined()
        let tokenFile = "\(directory)/token"
        try (token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)

        try withLivefeed(arguments: ["--access-token-file", tokenFile]) { server in
            // Live: 401 without or with a wrong token, 101 with the token in any of the three places.
            try expectUpgrade(server, "/live/metrics", answers: 401)
            try expectUpgrade(server, "/live/metrics", headers: [("Authorization", "Bearer wrong")], answers: 401)
            try expectUpgrade(server, "/live/metrics", headers: [("Authorization", "Bearer \(token)x")], answers: 401)
            try expectUpgrade(server, "/live/metrics?access_token=\(token.dropLast())", answers: 401)
            try expectUpgrade(server, "/live/metrics", headers: [("Cookie", "livefeed_token=nope")], answers: 401)
            try expectUpgrade(server, "/live/metrics", headers: [("Authorization", "Bearer \(token)")], answers: 101)
            try expectUpgrade(server, "/live/metrics?access_token=\(token)", answers: 101)
            try expectUpgrade(server, "/live/metrics", headers: [("Cookie", "livefeed_token=\(token)")], answers: 101)
            try expectUpgrade(
                server, "/live/metrics", headers: [("Cookie", "theme=dark; livefeed_token=\(token)")], answers: 101)

            // Ingest: 401 without or with a wrong token, 201 with it.
            let body = Array(#"{"channel":"general","user":"alice","text":"guarded"}"#.utf8)
            #expect(try post(server, body: body, headers: []).status == 401)
            #expect(try post(server, body: body, headers: [("Authorization", "Bearer wrong")]).status == 401)
            let posted = try post(server, body: body, headers: [("Authorization", "Bearer \(token)")])
            #expect(posted.status == 201, "\(posted)")
            let channelID = try LivefeedAPI(server).channelID(named: "general")

            // Reads need no token.
            for path in [
                "/", "/channels", "/channels/\(channelID)", "/users", "/api/metrics", "/api/channels",
                "/api/channels/\(channelID)/messages", "/fragments/metrics",
            ] {
                let response = try server.http.get(path)
                #expect(response.status == 200, "GET \(path) without a token: \(response)")
            }

            // The token is never written out, nor visible in any process's command line.
            let logs = server.stderrText() + ((try? String(contentsOfFile: server.stdoutPath, encoding: .utf8)) ?? "")
            #expect(!logs.contains(token), "the token appears in the server's output")
            for pid in [server.pid] + Array(try server.waitForWorkers(2).values) {
                #expect(!Subprocess.commandLine(pid).contains(token), "the token is on the command line of pid \(pid)")
            }
        }
    }

    @Test func tokenFromEnvironmentIsRequiredToo() throws {
        let token = "env-token-\(UInt64.random(in: 1...UInt64.max))"
        try withLivefeed(environment: ["LIVEFEED_ACCESS_TOKEN": token]) { server in
            try expectUpgrade(server, "/live/metrics", answers: 401)
            try expectUpgrade(server, "/live/metrics", headers: [("Authorization", "Bearer \(token)")], answers: 101)
            let body = Array(#"{"channel":"general","user":"alice","text":"guarded"}"#.utf8)
            #expect(try post(server, body: body, headers: []).status == 401)
            #expect(try post(server, body: body, headers: [("Authorization", "Bearer \(token)")]).status == 201)
            #expect(!server.stderrText().contains(token), "the token appears in the server's stderr")
        }
    }
}

/// The Origin header an upgrade request carries.
private enum OriginHeader {
    /// `http://127.0.0.1:PORT`, what a page served by the server would send.
    case serversOwn
    case value(String)
    /// No Origin header, as a non-browser client sends.
    case omitted
}

/// Expects an upgrade request for `path` to get `status`: 101 (the connection is then closed normally) or a
/// refusal before the upgrade.
private func expectUpgrade(
    _ server: ServerProcess, _ path: String, origin: OriginHeader = .serversOwn, headers: [(String, String)] = [],
    answers status: Int, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let got = try upgradeStatus(server, path, origin: origin, headers: headers, sourceLocation: sourceLocation)
    #expect(got == status, "\(path) with Origin \(origin) and headers \(headers)", sourceLocation: sourceLocation)
}

/// The status an upgrade request for `path` gets: 101 (the connection is then closed normally) or the refusal's
/// status.
private func upgradeStatus(
    _ server: ServerProcess, _ path: String, origin: OriginHeader = .serversOwn, headers: [(String, String)] = [],
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> Int {
    let handshake: WebSocketHandshake
    switch origin {
    case .serversOwn:
        handshake = try WebSocketClient.handshake(port: server.port, path: path, headers: headers)
    case .value(let origin):
        handshake = try WebSocketClient.handshake(port: server.port, path: path, origin: origin, headers: headers)
    case .omitted:
        handshake = try WebSocketClient.handshake(port: server.port, path: path, sendsOrigin: false, headers: headers)
    }
    switch handshake {
    case .upgraded(let client):
        client.close()
        return 101
    case .refused(let response):
        #expect(
            response.header("Upgrade") == nil, "\(path): a refusal must not upgrade: \(response)",
            sourceLocation: sourceLocation)
        return response.status
    }
}

/// POST /api/messages with extra headers, on its own connection.
private func post(_ server: ServerProcess, body: [UInt8], headers: [(String, String)]) throws -> HTTPResponse {
    let connection = try HTTPConnection(port: server.port)
    defer { connection.close() }
    return try connection.request(
        "POST", "/api/messages", headers: [("Content-Type", "application/json")] + headers, body: body, closeAfter: true
    )
}
