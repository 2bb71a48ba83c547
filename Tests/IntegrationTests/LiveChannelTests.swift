import Foundation
import Glibc
import Testing

/// `/live/channels/{id}`: envelopes, replay by cursor, writes by other programs, and which process serves it.
///
/// Every stream is opened with an explicit `after_id`, so what it must deliver does not depend on what the server
/// sends to a client that gives no cursor.
struct LiveChannelTests {
    @Test func postedMessageArrivesAsMessageEnvelope() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channelID = try api.channelID(named: "general")
            let userID = try api.userID(named: "alice")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)")
            defer { stream.close() }

            let id = try api.post(text: "hello live")
            let envelope = try #require(try stream.expectMessages([id]).first)
            #expect(envelope.string("type") == "message")
            #expect(envelope.int("cursor") == id)
            let epoch = try api.metrics().string("epoch")
            #expect(envelope.string("epoch") != nil && envelope.string("epoch") == epoch, "\(envelope.jsonText)")
            #expect(envelope.string("sent_at").map(isRFC3339) == true, "sent_at in \(envelope.jsonText)")
            let data = try #require(envelope.object("data"), "\(envelope.jsonText)")
            #expect(data.int("id") == id)
            #expect(data.int("channel_id") == channelID)
            #expect(data.int("user_id") == userID)
            #expect(data.string("user") == "alice")
            #expect(data.string("channel") == "general")
            #expect(data.string("text") == "hello live")
            #expect(data.string("sent_at").map(isRFC3339) == true, "data.sent_at in \(envelope.jsonText)")
        }
    }

    @Test func rowInsertedByAnotherProgramIsStreamedAndCounted() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channelID = try api.channelID(named: "general")
            let userID = try api.userID(named: "alice")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)")
            defer { stream.close() }

            let id = try SQLiteWriter(databasePath: server.databasePath)
                .insertMessage(channelID: channelID, userID: userID, text: "written by sqlite3")
            let envelope = try #require(try stream.expectMessages([id]).first)
            let data = try #require(envelope.object("data"))
            #expect(data.string("text") == "written by sqlite3")
            #expect(data.string("user") == "alice")
            #expect(data.string("channel") == "general")

            // Counts come from the triggers, so a foreign insert counts like an ingested one.
            #expect(try api.channel(named: "general")?.int("message_count") == 2)
            #expect(try api.user(named: "alice")?.int("message_count") == 2)
            let metrics = try api.metrics()
            #expect(metrics.int("messages") == 2)
            #expect(metrics.int("cursor") == id)
        }
    }

    /// Workers remember channel rows between ticks for joins (one query per channel in a burst of upgrades, not
    /// two per subscriber): a foreign write must end that, so the next join's first count includes it.
    @Test func aJoinAfterAForeignWriteToAnIdleWorkerCountsIt() throws {
        try withLivefeed(workers: 1) { server in
            let api = LivefeedAPI(server)
            try api.post(text: "creates the channel")
            let channelID = try api.channelID(named: "general")
            let userID = try api.userID(named: "alice")
            func joinCount() throws -> Int? {
                let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)")
                defer { stream.close() }
                let count = try stream.next("channel_count") { $0.string("type") == "channel_count" }
                return count.object("data")?.int("message_count")
            }
            #expect(try joinCount() == 1)
            _ = try SQLiteWriter(databasePath: server.databasePath)
                .insertMessage(channelID: channelID, userID: userID, text: "written by sqlite3")
            #expect(try joinCount() == 2)
        }
    }

    @Test func resumingAfterACursorReplaysExactlyTheMissedMessagesThenLiveOnes() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let backlog = try api.postBatch(count: 30, prefix: "backlog")
            #expect(backlog.count == 30)
            let channelID = try api.channelID(named: "general")
            let stream = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(backlog[9])")
            defer { stream.close() }

            let replayed = try stream.expectMessages(Array(backlog[10...]))
            #expect(replayed.first?.object("data")?.string("text") == "backlog 11")
            #expect(replayed.last?.object("data")?.string("text") == "backlog 30")

            let live = try (1...5).map { try api.post(text: "live \($0)") }
            try stream.expectMessages(live)
            // A message posted afterwards must be the very next one: nothing duplicated after the live five.
            try stream.expectMessages([try api.post(text: "sentinel")])
        }
    }

    @Test func liveConnectionIsHeldByAWorkerNotTheSupervisor() throws {
        try withLivefeed(workers: 2) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "hello")
            let channelID = try api.channelID(named: "general")
            let workers = try server.waitForWorkers(2)
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)")
            defer { stream.close() }

            let candidates = [server.pid] + workers.values
            var holders: [pid_t] = []
            // The supervisor closes its copy right after the handoff; allow it a moment.
            try eventually(
                timeout: .seconds(5),
                "server side held by exactly one worker \(workers) (supervisor \(server.pid)); held by \(holders)"
            ) {
                holders = ProcessOwnership.holdersOfServerSide(
                    serverPort: server.port, clientPort: stream.client.localPort, among: candidates)
                return holders.count == 1 && workers.values.contains(holders[0])
            }
            // And it still streams from there.
            try stream.expectMessages([try api.post(text: "served by a worker")])
        }
    }

    @Test func unknownLiveTargetsAreRefusedWith404BeforeUpgrade() throws {
        try withLivefeed { server in
            try LivefeedAPI(server).post(text: "so that some channel exists")
            for path in ["/live/channels/999999", "/live/nope", "/live/echo"] {
                switch try WebSocketClient.handshake(port: server.port, path: path) {
                case .upgraded(let client):
                    client.close()
                    Issue.record("\(path) was upgraded")
                case .refused(let response):
                    #expect(response.status == 404, "\(path): \(response)")
                }
            }
        }
    }

    @Test func echoViewEchoesTextFramesWhenEnabled() throws {
        try withLivefeed(arguments: ["--enable-echo"]) { server in
            let client = try WebSocketClient.connect(port: server.port, path: "/live/echo")
            defer { client.close() }
            for text in ["hello, echo ✓", String(repeating: "0123456789", count: 100)] {
                try client.sendText(text)
                // Extra frames (e.g. a status envelope) are allowed before the echo; the echo itself must come.
                let deadline = ContinuousClock.now + .seconds(10)
                var others: [String] = []
                while true {
                    let message: (opcode: WebSocketOpcode, payload: [UInt8])
                    do {
                        message = try client.readMessage(timeout: deadline - .now)
                    } catch {
                        throw TimedOut(description: "no echo of \(text.prefix(20))…: \(error); other frames: \(others)")
                    }
                    if message.opcode == .text && message.payload == Array(text.utf8) { break }
                    others.append("\(message.opcode): \(String(decoding: message.payload, as: UTF8.self).prefix(200))")
                }
            }
        }
    }
}
