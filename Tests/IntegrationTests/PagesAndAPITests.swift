import Foundation
import Testing

/// The HTTP surface served by workers: HTML pages, the JSON read API, ingest, and the HTTP/1.1 edge cases.
struct PagesAndAPITests {
    @Test func pagesAreServedAsHTML() throws {
        try withLivefeed { server in
            for path in ["/", "/channels", "/users"] {
                let response = try server.http.get(path)
                #expect(response.status == 200, "GET \(path): \(response)")
                #expect(
                    response.hasContentType("text/html"), "GET \(path): \(response.header("Content-Type") ?? "no type")"
                )
            }
        }
    }

    @Test func postedMessageShowsUpInEveryView() throws {
        try withLivefeed { server in
            let http = server.http
            let posted = try http.postJSON("/api/messages", ["channel": "general", "user": "alice", "text": "hello"])
            #expect(posted.status == 201, "\(posted)")
            let answer = try posted.jsonObject()
            let ids = try #require(answer["ids"] as? [Any]).compactMap(jsonInt)
            #expect(ids.count == 1, "\(answer.jsonText)")
            let id = try #require(ids.first)
            #expect(answer.int("cursor") == id, "the cursor after one write is that write's id: \(answer.jsonText)")

            let api = LivefeedAPI(server)
            let channels = try api.getObject("/api/channels")
            let general = try #require(channels.objects("channels")?.first { $0.string("name") == "general" })
            #expect(general.int("message_count") == 1, "\(general.jsonText)")
            let channelID = try #require(general.int("id"))
            #expect(channels.int("cursor") == id, "\(channels.jsonText)")
            let epoch = try #require(channels.string("epoch"), "\(channels.jsonText)")
            #expect(!epoch.isEmpty)

            let users = try api.getObject("/api/users")
            let alice = try #require(users.objects("users")?.first { $0.string("name") == "alice" })
            #expect(alice.int("message_count") == 1, "\(alice.jsonText)")
            let userID = try #require(alice.int("id"))

            let profile = try api.getObject("/api/users/\(userID)")
            let user = try #require(profile.object("user"), "\(profile.jsonText)")
            #expect(user.int("id") == userID)
            #expect(user.string("name") == "alice")
            #expect(user.int("message_count") == 1)

            let page = try http.get("/channels/\(channelID)")
            #expect(page.status == 200)
            #expect(page.hasContentType("text/html"))
            #expect(
                page.text.contains("id=\"msg-\(id)\"") || page.text.contains("id='msg-\(id)'"),
                "channel page has no element with id msg-\(id)")
            #expect(page.text.contains("hello"))

            let userPage = try http.get("/users/\(userID)")
            #expect(userPage.status == 200)
            #expect(userPage.hasContentType("text/html"))
            #expect(userPage.text.contains("alice"))

            let metrics = try api.metrics()
            #expect(metrics.int("messages") == 1, "\(metrics.jsonText)")
            #expect(metrics.int("channels") == 1, "\(metrics.jsonText)")
            #expect(metrics.int("users") == 1, "\(metrics.jsonText)")
            #expect(metrics.int("cursor") == id, "\(metrics.jsonText)")
            #expect(metrics.string("epoch") == epoch, "one database, one epoch")
        }
    }

    @Test func arrayIsStoredWhole() throws {
        try withLivefeed { server in
            let response = try server.http.postJSON(
                "/api/messages",
                [
                    ["channel": "general", "user": "alice", "text": "one"],
                    ["channel": "random", "user": "bob", "text": "two"],
                    ["channel": "general", "user": "bob", "text": "three"],
                ])
            #expect(response.status == 201, "\(response)")
            let answer = try response.jsonObject()
            let ids = try #require(answer["ids"] as? [Any]).compactMap(jsonInt)
            #expect(ids.count == 3, "\(answer.jsonText)")
            #expect(ids == ids.sorted() && Set(ids).count == 3, "ids ascend in item order: \(ids)")
            #expect(answer.int("cursor") == ids.last)

            let metrics = try LivefeedAPI(server).metrics()
            #expect(metrics.int("messages") == 3)
            #expect(metrics.int("channels") == 2)
            #expect(metrics.int("users") == 2)
        }
    }

    /// A request body the ingest API must refuse as a whole.
    struct RejectedBody: CustomTestStringConvertible, Sendable {
        var name: String
        var body: String
        var testDescription: String { name }
    }

    @Test(arguments: [
        RejectedBody(name: "malformed JSON", body: #"{"channel":"brand-new","user":"newbie","text":"#),
        RejectedBody(name: "object without text", body: #"{"channel":"brand-new","user":"newbie"}"#),
        RejectedBody(
            name: "array whose second item is invalid",
            body: #"[{"channel":"brand-new","user":"newbie","text":"fine"},{"channel":"brand-new","user":"newbie"}]"#),
    ])
    func invalidIngestIsRejectedAndWritesNothing(_ rejected: RejectedBody) throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(text: "before")
            let before = try api.metrics()

            let response = try server.http.post("/api/messages", body: rejected.body)
            #expect(response.status == 400, "\(response)")
            let error = try response.jsonObject().object("error")
            #expect(error?.string("code")?.isEmpty == false, "error.code in \(response.text)")
            #expect(error?.string("message")?.isEmpty == false, "error.message in \(response.text)")

            let after = try api.metrics()
            for key in ["messages", "channels", "users", "cursor"] {
                #expect(after.int(key) == before.int(key), "\(key) changed: \(before.jsonText) → \(after.jsonText)")
            }
            #expect(try api.channel(named: "brand-new") == nil)
            #expect(try api.user(named: "newbie") == nil)
        }
    }

    @Test func bodyOverOneMebibyteIsRefusedWith413() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let prefix = Array(#"{"channel":"general","user":"alice","text":""#.utf8)
            let suffix = Array(#""}"#.utf8)
            let size = 1024 * 1024 + 1
            let body =
                prefix + [UInt8](repeating: UInt8(ascii: "a"), count: size - prefix.count - suffix.count) + suffix

            let connection = try HTTPConnection(port: server.port)
            defer { connection.close() }
            try connection.sendRaw(
                Array(
                    "POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nContent-Type: application/json\r\nContent-Length: \(size)\r\n\r\n"
                        .utf8))
            // The server may answer as soon as it sees Content-Length and close without reading the body: send the
            // body in pieces and stop once an answer is waiting or the server stops reading.
            var offset = 0
            while offset < body.count && !connection.socket.isReadable() {
                let end = min(offset + 64 * 1024, body.count)
                do {
                    try connection.socket.send(Array(body[offset..<end]), timeout: .seconds(2))
                } catch {
                    break
                }
                offset = end
            }
            let response = try connection.readResponse(forMethod: "POST")
            #expect(response.status == 413, "\(response)")
            #expect(try api.metrics().int("messages") == 0)
        }
    }

    @Test func messagesPageHoldsIDsAfterTheCursorAscendingAndBounded() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let ids = try api.post([
                ["channel": "general", "user": "alice", "text": "m1"],
                ["channel": "general", "user": "alice", "text": "m2"],
                ["channel": "random", "user": "alice", "text": "elsewhere"],
                ["channel": "general", "user": "alice", "text": "m3"],
                ["channel": "general", "user": "alice", "text": "m4"],
                ["channel": "general", "user": "alice", "text": "m5"],
            ])
            let general = [ids[0], ids[1], ids[3], ids[4], ids[5]]
            let channelID = try api.channelID(named: "general")
            let userID = try api.userID(named: "alice")

            let first = try api.getObject("/api/channels/\(channelID)/messages?after_id=\(general[0])&limit=2")
            let firstMessages = try #require(first.objects("messages"), "\(first.jsonText)")
            #expect(firstMessages.compactMap { $0.int("id") } == [general[1], general[2]])
            #expect(first.bool("has_more") == true, "\(first.jsonText)")
            // With more to come, the cursor must be the last id returned, or a poller resuming from it would skip.
            #expect(first.int("cursor") == general[2], "\(first.jsonText)")
            #expect(first.string("epoch")?.isEmpty == false)

            let message = try #require(firstMessages.first)
            #expect(message.int("channel_id") == channelID)
            #expect(message.int("user_id") == userID)
            #expect(message.string("user") == "alice")
            #expect(message.string("text") == "m2")
            #expect(message.string("sent_at").map(isRFC3339) == true, "sent_at in \(message.jsonText)")

            let rest = try api.getObject("/api/channels/\(channelID)/messages?after_id=\(general[2])&limit=500")
            #expect(rest.objects("messages")?.compactMap { $0.int("id") } == [general[3], general[4]])
            #expect(rest.bool("has_more") == false, "\(rest.jsonText)")
            #expect((rest.int("cursor") ?? 0) >= general[4], "\(rest.jsonText)")

            let none = try api.getObject("/api/channels/\(channelID)/messages?after_id=\(general[4])&limit=10")
            #expect(none.objects("messages")?.isEmpty == true, "\(none.jsonText)")
            #expect(none.bool("has_more") == false)
        }
    }

    /// RFC 9110 §10.1.1: a POST that says `Expect: 100-continue` gets a 100 before it sends its body. Without one it
    /// waited until the request timed out (408, 15 s), or a second where the client (curl) gives up waiting.
    @Test func aPostExpecting100ContinueGetsItThenItsAnswer() throws {
        try withLivefeed(workers: 1) { server in
            let body = Array(#"{"channel":"general","user":"alice","text":"after the 100"}"#.utf8)
            let connection = try HTTPConnection(port: server.port)
            defer { connection.close() }
            try connection.sendRaw(Array(("POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nExpect: 100-continue\r\n\r\n").utf8))
            let interim = try connection.socket.read(
                until: Array("\r\n\r\n".utf8), limit: 1024, deadline: .now + .seconds(5), waitingFor: "a 100 Continue")
            #expect(String(decoding: interim, as: UTF8.self) == "HTTP/1.1 100 Continue")
            try connection.sendRaw(body)
            let response = try connection.readResponse(forMethod: "POST")
            #expect(response.status == 201, "\(response)")
            #expect(try LivefeedAPI(server).metrics().int("messages") == 1)
        }
    }

    /// The channel and user lists show 1,000 names at a time. They used to stop there without a word, so one POST
    /// creating 1,000 channels whose names sort first hid every other channel from the API and the pages.
    @Test func listsPastOneThousandNamesSaySoAndGoOn() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "engineering", user: "alice", text: "the channel that must not disappear")
            try api.post((0..<1000).map { ["channel": String(format: "!%04d", $0), "user": "bob", "text": "x"] })

            let first = try api.getObject("/api/channels")
            let names = try #require(first.objects("channels")).compactMap { $0.string("name") }
            #expect(names.count == 1000 && names.first == "!0000" && names.last == "!0999", "\(names.prefix(3))")
            #expect(first.bool("has_more") == true, "1,001 channels do not fit one page")
            let next = try api.getObject("/api/channels?after=%210999")
            #expect(next.objects("channels")?.compactMap { $0.string("name") } == ["engineering"], "\(next.jsonText)")
            #expect(next.bool("has_more") == false)

            let two = try api.getObject("/api/users?limit=1")
            #expect(two.objects("users")?.compactMap { $0.string("name") } == ["alice"])
            #expect(two.bool("has_more") == true)
            let rest = try api.getObject("/api/users?limit=1&after=alice")
            #expect(rest.objects("users")?.compactMap { $0.string("name") } == ["bob"])
            #expect(rest.bool("has_more") == false)
            #expect(try server.http.get("/api/channels?limit=1001").status == 400)
            #expect(try server.http.get("/api/channels?limit=0").status == 400)

            // The page says how many of how many it shows, and links on to the rest.
            let page = try server.http.get("/channels")
            #expect(page.status == 200)
            #expect(page.text.contains("1000 of 1001 channels"), "the page's count")
            let link = "/channels?after=%210999"
            #expect(page.text.contains("href=\"\(link)\""), "a link to the next page")
            #expect(!page.text.contains("#engineering"))
            let second = try server.http.get(link)
            #expect(second.status == 200)
            #expect(second.text.contains("#engineering"), "the second page shows the rest")
            #expect(second.text.contains("href=\"/channels\">First page"))
        }
    }

    /// 500 messages of 16 KiB of NUL (six bytes each in JSON) made one 49 MB answer that a client could leave
    /// unread on each of its connections. Pages now end at a byte budget: fewer messages, has_more, and the next
    /// page goes on from the cursor with nothing lost or repeated.
    @Test func pagesOfLargeMessagesEndAtTheirByteBudgetAndGoOn() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let text = String(repeating: "\u{0}", count: 16 * 1024 - 8)  // with its "b-i" prefix, at most 16 KiB
            var ids: [Int] = []
            for batch in 0..<8 {  // 5 per POST: 5 x 16 KiB escaped six-fold stays under the 1 MiB body limit
                ids += try api.post((0..<5).map { ["channel": "big", "user": "u", "text": "\(batch)-\($0)" + text] })
            }
            let channelID = try api.channelID(named: "big")

            var seen: [Int] = []
            var cursor = 0
            var pages = 0
            var largest = 0
            while pages < 10 {
                let response = try server.http.get("/api/channels/\(channelID)/messages?after_id=\(cursor)&limit=500")
                #expect(response.status == 200, "\(response.status)")
                largest = max(largest, response.body.count)
                let page = try response.jsonObject()
                let messages = try #require(page.objects("messages"))
                pages += 1
                for m in messages {
                    let id = try #require(m.int("id"))
                    seen.append(id)
                    let index = try #require(ids.firstIndex(of: id))
                    #expect(m.string("text") == "\(index / 5)-\(index % 5)" + text, "text of \(id) served exactly")
                }
                if page.bool("has_more") != true { break }
                #expect(!messages.isEmpty)
                #expect(page.int("cursor") == seen.last, "a cut page's cursor is its last message")
                cursor = try #require(page.int("cursor"))
            }
            #expect(seen == ids, "every message once, in order, over \(pages) pages")
            #expect(pages >= 2, "40 messages of 16 KiB do not fit one page")
            #expect(largest <= 4 << 20, "an answer within --max-queue-bytes: \(largest) bytes")

            // The polling fragment goes on from its cursor the same way.
            let fragment = try server.http.get("/fragments/channels/\(channelID)/messages?after_id=0&limit=500")
            #expect(fragment.status == 200)
            let shown = ids.filter { fragment.text.contains("id=\"msg-\($0)\"") }
            #expect(!shown.isEmpty && shown == Array(ids.prefix(shown.count)) && shown.count < ids.count,
                    "the first fragment shows the oldest \(shown.count) of \(ids.count)")
            #expect(fragment.text.contains("data-cursor=\"\(shown.last ?? 0)\""), "its cursor is its last message")
            #expect(fragment.body.count <= 4 << 20, "\(fragment.body.count) bytes")

            // The channel page keeps the newest and offers the older ones.
            let pageHTML = try server.http.get("/channels/\(channelID)")
            #expect(pageHTML.status == 200)
            let html = pageHTML.text
            let newestShown = html.contains("msg-\(ids.last!)\""), oldestShown = html.contains("msg-\(ids.first!)\"")
            #expect(newestShown, "the newest message is on the page")
            #expect(!oldestShown, "the oldest waits behind Load older")
            #expect(html.contains("Load older messages"))
            #expect(pageHTML.body.count <= 4 << 20, "\(pageHTML.body.count) bytes")
        }
    }

    @Test func outOfRangeLimitAndUnknownIDsAreRefused() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(text: "hello")
            let channelID = try api.channelID(named: "general")

            let tooMany = try server.http.get("/api/channels/\(channelID)/messages?after_id=0&limit=501")
            #expect(tooMany.status == 400, "\(tooMany)")
            #expect(try tooMany.jsonObject().object("error")?.string("code") != nil, "\(tooMany)")
            let maximum = try server.http.get("/api/channels/\(channelID)/messages?after_id=0&limit=500")
            #expect(maximum.status == 200, "\(maximum)")

            let unknownChannel = try server.http.get("/api/channels/999999/messages?after_id=0&limit=10")
            #expect(unknownChannel.status == 404, "\(unknownChannel)")
            let unknownUser = try server.http.get("/api/users/999999")
            #expect(unknownUser.status == 404, "\(unknownUser)")
        }
    }

    @Test func keepAliveConnectionAnswersSeveralRequests() throws {
        try withLivefeed { server in
            let connection = try HTTPConnection(port: server.port)
            defer { connection.close() }
            let first = try connection.get("/api/metrics")
            #expect(first.status == 200, "\(first)")
            #expect(!first.closesConnection, "server closed a keep-alive connection: \(first)")
            let second = try connection.get("/api/channels")
            #expect(second.status == 200, "\(second)")
            let last = try connection.get("/", closeAfter: true)
            #expect(last.status == 200, "\(last)")
            #expect(connection.serverClosed(within: .seconds(5)), "server kept the connection after Connection: close")
        }
    }

    @Test func malformedRequestLineIsAnswered400() throws {
        try withLivefeed { server in
            let response = try server.http.sendRaw(Array("NONSENSE\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            #expect(response.status == 400, "\(response)")
        }
    }

    @Test func headerSectionOver8KiBIsAnswered431() throws {
        try withLivefeed { server in
            let filler = String(repeating: "x", count: 9 * 1024)
            let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nX-Filler: \(filler)\r\n\r\n"
            let response = try server.http.sendRaw(Array(request.utf8))
            #expect(response.status == 431, "\(response)")
        }
    }
}

/// True for RFC 3339 timestamps such as `2026-11-26T14:00:00.123Z` or `2026-11-26T14:00:00+01:00`.
func isRFC3339(_ text: String) -> Bool {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if formatter.date(from: text) != nil { return true }
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: text) != nil
}
