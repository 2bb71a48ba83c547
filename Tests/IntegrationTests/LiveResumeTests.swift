import Foundation
import Glibc
import Testing

/// Resuming by cursor: exactly once under concurrent writes and abrupt reconnects, and the backlog limit.
struct LiveResumeTests {
    @Test func everyMessageArrivesExactlyOnceAcrossTwentyAbruptReconnectsDuringConcurrentWrites() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let start = try api.post(channel: "churn", user: "alice", text: "start")
            try api.post(channel: "other", user: "bob", text: "another channel, so churn's ids are not contiguous")
            let channelID = try api.channelID(named: "churn")
            let epoch = try #require(try api.metrics().string("epoch"))

            // 300 messages over a few seconds, two of every three to the channel under test.
            let port = server.port
            let writer = BackgroundWork<[Int]>("churn writer") { shouldStop in
                let api = LivefeedAPI(port: port)
                var ids: [Int] = []
                for i in 1...300 where !shouldStop() {
                    let channel = i % 3 == 0 ? "other" : "churn"
                    ids.append(try api.post(channel: channel, user: i % 2 == 0 ? "alice" : "bob", text: "m\(i)"))
                    usleep(6_000)  // pacing, so the writes span the reconnects
                }
                return ids
            }
            defer { writer.stopAndWait() }

            var cursor = start
            var received: [Int] = []
            for round in 0..<20 {
                let path = "/live/channels/\(channelID)?after_id=\(cursor)"
                let stream = try LiveStream.open(port: server.port, path: path, expectedEpoch: epoch)
                // Read a few messages or for a short slice, whichever comes first, then vanish without a close frame:
                // RST on even rounds, FIN on odd ones. Whatever was in flight is lost to this connection.
                let wanted = (round % 4 + 1) * 4
                let sliceEnd = ContinuousClock.now + .milliseconds(120)
                while stream.messageIDs.count < wanted && ContinuousClock.now < sliceEnd {
                    do {
                        _ = try stream.nextEnvelope(timeout: sliceEnd - .now)
                    } catch SocketError.timedOut {
                        break
                    }
                }
                if round % 2 == 0 { stream.client.socket.abort() } else { stream.client.socket.close() }
                #expect(
                    stream.messageIDs.allSatisfy { $0 > cursor },
                    "round \(round) after_id=\(cursor): \(stream.messageIDs)")
                received += stream.messageIDs
                cursor = stream.lastCursor ?? cursor
            }

            let posted = try writer.join(timeout: .seconds(60))
            #expect(posted.count == 300)
            let expected = try channelMessageIDs(api, channelID: channelID, after: start)
            #expect(expected.count == 200, "churn has 200 messages after the start: \(expected.count)")
            let last = try #require(expected.last)

            let final = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(cursor)", expectedEpoch: epoch)
            defer { final.close() }
            if cursor < last {
                _ = try final.next("message \(last)", timeout: .seconds(20)) { LiveStream.messageID($0) == last }
            }
            #expect(final.messageIDs.allSatisfy { $0 > cursor }, "final after_id=\(cursor): \(final.messageIDs)")
            received += final.messageIDs

            #expect(received.count == expected.count, "received \(received.count) messages, expected \(expected.count)")
            let duplicates = Dictionary(grouping: received, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
            let missing = Set(expected).subtracting(received).sorted()
            #expect(duplicates.isEmpty, "delivered more than once: \(duplicates)")
            #expect(missing.isEmpty, "never delivered: \(missing)")
            #expect(received == expected, "ids in delivery order differ from the channel's ids in id order")
        }
    }

    @Test func resumeFurtherBehindThanMaxBacklogIsToldTooFarBehindAndClosedWith4000() throws {
        try withLivefeed(arguments: ["--max-backlog", "50"]) { server in
            let api = LivefeedAPI(server)
            let ids = try api.postBatch(count: 200, prefix: "backlog")
            let channelID = try api.channelID(named: "general")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)?after_id=0")
            defer { stream.close() }

            let status = try stream.nextEnvelope()
            #expect(status.string("type") == "status", "\(status.jsonText)")
            #expect(status.object("data")?.string("state") == "too_far_behind", "\(status.jsonText)")
            let ending = try stream.awaitEnding()
            #expect(closeCode(ending) == 4000, "\(ending)")
            #expect(stream.messageIDs.isEmpty, "messages before too_far_behind: \(stream.messageIDs.prefix(5))…")
            #expect(ids.count == 200)
        }
    }

    @Test func resumeWithinMaxBacklogReplaysExactlyTheMissedTen() throws {
        try withLivefeed(arguments: ["--max-backlog", "50"]) { server in
            let api = LivefeedAPI(server)
            let ids = try api.postBatch(count: 200, prefix: "backlog")
            let channelID = try api.channelID(named: "general")
            let epoch = try #require(try api.metrics().string("epoch"))
            let stream = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(ids[189])", expectedEpoch: epoch)
            defer { stream.close() }

            try stream.expectMessages(Array(ids[190...]))
            // Nothing more was replayed: the next message is the one posted now.
            try stream.expectMessages([try api.post(text: "sentinel")])
            #expect(stream.envelopes(ofType: "status").isEmpty, "\(stream.envelopes(ofType: "status"))")
        }
    }
}

/// The close code of an ending, if it was a close frame.
func closeCode(_ ending: WebSocketEnding) -> UInt16? {
    if case .closeFrame(let code, _) = ending { code } else { nil }
}

/// Every message id of a channel after `after`, paging through the API.
func channelMessageIDs(_ api: LivefeedAPI, channelID: Int, after: Int) throws -> [Int] {
    var ids: [Int] = []
    var cursor = after
    while true {
        let page = try api.getObject("/api/channels/\(channelID)/messages?after_id=\(cursor)&limit=500")
        let messages = page.objects("messages") ?? []
        ids += messages.compactMap { $0.int("id") }
        guard page.bool("has_more") == true, let next = page.int("cursor"), next > cursor else { return ids }
        cursor = next
    }
}
