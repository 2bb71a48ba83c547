import Foundation
import Testing

/// Data from anywhere: rows written by other programs with numbers at the edges of SQLite's integers, and text
/// with NUL in it. No worker may trap on what it reads; text is stored and served exactly.
struct ForeignDataTests {
    static func readPaths(_ channel: Int, _ user: Int) -> [String] {
        [
            "/", "/fragments/dashboard", "/channels", "/channels/\(channel)",
            "/channels/\(channel)?before_id=9223372036854775807", "/users", "/users/\(user)", "/api/metrics",
            "/api/channels", "/api/channels/\(channel)", "/api/channels/\(channel)/messages?after_id=0&limit=500",
            "/api/users", "/api/users/\(user)", "/fragments/metrics", "/fragments/channels", "/fragments/users",
            "/fragments/channels/\(channel)/messages?after_id=0", "/fragments/users/\(user)",
        ]
    }

    @Test func rowsAtTheEdgesOfSQLiteIntegersCrashNoWorker() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let first = try api.post(channel: "general", user: "alice", text: "before the foreign rows")
            _ = try api.post(channel: "random", user: "bob", text: "another channel")
            let channel = try api.channelID(named: "general")
            let user = try api.userID(named: "alice")
            let workers = try server.waitForWorkers(2)
            // A live subscriber that must see the foreign row, whatever its id.
            let live = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")

            let sqlite = SQLiteWriter(databasePath: server.databasePath)
            _ = try sqlite.execute(
                """
                INSERT INTO messages(id, channel_id, user_id, text, sent_at)
                    VALUES (9223372036854775807, \(channel), \(user), 'the largest id', 'not a timestamp');
                UPDATE channels SET message_count = -9223372036854775807 WHERE id = \(channel);
                UPDATE users SET message_count = 9223372036854775807 WHERE id = \(user);
                UPDATE totals SET messages = -9223372036854775808, channels = 9223372036854775807;
                """)
            let message = try live.nextMessage()
            #expect(LiveStream.messageID(message) == Int(Int64.max))

            for round in 0..<3 {
                for path in Self.readPaths(channel, user) {
                    let response = try server.http.get(path)
                    #expect(response.status == 200, "round \(round) GET \(path): \(response)")
                }
            }
            let page = try server.http.get("/channels/\(channel)")
            #expect(page.text.contains("id=\"msg-9223372036854775807\""), "the newest row is on its channel's page")
            #expect(try server.http.get("/healthz").status == 200)
            #expect(try server.waitForWorkers(2) == workers, "a worker was restarted")
            #expect(!server.logLines().contains { $0.string("event") == "worker_exited" }, "\(server.stderrTail())")
            live.close()
        }
    }

    /// Another program may store a text of any length (SQLite allows a gigabyte); one of 20 MB went whole into a
    /// 20 MB live frame and a 20 MB API page. What is served is its first 64 KiB, marked as cut; texts the API
    /// stored (16 KiB at most) are served exactly and unmarked.
    @Test func aHugeTextFromAnotherProgramIsServedCutAndMarked() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "before")
            let channel = try api.channelID(named: "general")
            let live = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=0")
            defer { live.close() }
            let sqlite = SQLiteWriter(databasePath: server.databasePath)
            // 300,000 bytes of "ab", built by SQLite itself (an argument that long would not pass exec).
            _ = try sqlite.execute("""
                INSERT INTO messages (channel_id, user_id, text)
                    VALUES (\(channel), 1, replace(hex(zeroblob(150000)), '00', 'ab'));
                """)
            let cut = String(repeating: "ab", count: 32768)

            let page = try api.getObject("/api/channels/\(channel)/messages?after_id=0")
            let messages = try #require(page.objects("messages"))
            #expect(messages.count == 2)
            #expect(messages.first?.bool("text_truncated") == nil, "an API-stored text is not marked")
            #expect(messages.last?.string("text") == cut, "the first 64 KiB")
            #expect(messages.last?.bool("text_truncated") == true)

            var streamed: [String: Any]?
            while streamed == nil {
                let envelope = try live.nextMessage()
                if envelope.object("data")?.string("text") != "before" { streamed = envelope }
            }
            #expect(streamed?.object("data")?.string("text") == cut)
            #expect(streamed?.object("data")?.bool("text_truncated") == true)

            let html = try server.http.get("/fragments/channels/\(channel)/messages?after_id=0")
            #expect(html.text.contains("cut: the stored text is longer"))
            #expect(html.body.count < 100_000, "\(html.body.count) bytes")
        }
    }

    @Test func textWithNULIsStoredAndServedExactly() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "setup")
            let channel = try api.channelID(named: "general")
            let live = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=0")
            let posted = try server.http.post(
                "/api/messages", body: #"{"channel":"general","user":"alice","text":"a\u0000b"}"#)
            #expect(posted.status == 201, "\(posted)")
            let lone = try server.http.post(
                "/api/messages", body: #"{"channel":"general","user":"alice","text":"\u0000"}"#)
            #expect(lone.status == 201, "a lone NUL is one byte of text: \(lone)")

            let page = try api.getObject("/api/channels/\(channel)/messages?after_id=0")
            let texts = (page.objects("messages") ?? []).compactMap { $0.string("text") }
            #expect(texts.suffix(2) == ["a\u{0}b", "\u{0}"], "\(page.jsonText)")
            let sqlite = SQLiteWriter(databasePath: server.databasePath)
            let lengths = try sqlite.execute("SELECT length(CAST(text AS BLOB)) FROM messages ORDER BY id DESC LIMIT 2;")
            #expect(lengths.split(separator: "\n") == ["1", "3"], "stored byte lengths: \(lengths)")

            var streamed: [String] = []
            while streamed.count < 2 {
                let envelope = try live.nextMessage()
                if let text = envelope.object("data")?.string("text"), text.contains("\u{0}") { streamed.append(text) }
            }
            #expect(streamed == ["a\u{0}b", "\u{0}"])
            live.close()
        }
    }

    @Test(arguments: [
        #"{"channel":"a\u0000b","user":"alice","text":"x"}"#, #"{"channel":"general","user":"\u0000","text":"x"}"#,
    ])
    func namesWithNULAreRefused(_ body: String) throws {
        try withLivefeed(workers: 1) { server in
            let response = try server.http.post("/api/messages", body: body)
            #expect(response.status == 400, "\(response)")
            #expect(try response.jsonObject().object("error")?.string("code") == "invalid_message")
        }
    }

    @Test func offsetsAndFractionsAreStoredInUTC() throws {
        try withLivefeed(workers: 1) { server in
            let posted = try server.http.post(
                "/api/messages",
                body: #"{"channel":"general","user":"alice","text":"x","sent_at":"1970-01-01T00:00:00.5+00:01"}"#)
            #expect(posted.status == 201, "\(posted)")
            let bad = try server.http.post(
                "/api/messages",
                body: #"{"channel":"general","user":"alice","text":"x","sent_at":"2023-02-29T00:00:00Z"}"#)
            #expect(bad.status == 400, "\(bad)")
            let sqlite = SQLiteWriter(databasePath: server.databasePath)
            #expect(try sqlite.execute("SELECT sent_at FROM messages;") == "1969-12-31T23:59:00.500Z\n")
        }
    }
}
