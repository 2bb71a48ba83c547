import Foundation
import Testing

/// Per-connection accounting: every live connection ends in exactly one `connection_closed` record whose numbers
/// agree with what the client saw.
struct ConnectionAccountingTests {
    @Test func normalCloseIsRecordedOnceWithWhatTheClientReceived() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let backlog = try api.postBatch(count: 5, prefix: "backlog")
            let channelID = try api.channelID(named: "general")
            let opened = ContinuousClock.now
            let stream = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(backlog[1])")
            let clientPort = stream.client.localPort

            try stream.expectMessages(Array(backlog[2...]))
            let live = try (1...2).map { try api.post(text: "live \($0)") }
            try stream.expectMessages(live)
            _ = try stream.next("the channel_count after the live messages") {
                $0.string("type") == "channel_count" && $0.object("data")?.int("message_count") == 7
            }
            // Close normally: our close frame, the server's answer, then end of stream.
            let answer = stream.client.close()
            let lifetime = ContinuousClock.now - opened
            #expect(
                answer.flatMap(closeCode) == 1000,
                "server's answer to our close: \(answer.map(\.description) ?? "none")")
            let received = stream.client.socket.bytesReceived

            let record = try server.waitForConnectionClosed(clientPort: clientPort)
            #expect(record.string("view") == "channel", "\(record.jsonText)")
            #expect(record.string("reason") == "client_closed", "\(record.jsonText)")
            let duration = try #require(record.int("duration_ms"), "\(record.jsonText)")
            #expect(duration >= 0 && duration <= Int(lifetime.components.seconds * 1000) + 1000, "\(record.jsonText)")
            let frames = try #require(record.int("frames"), "\(record.jsonText)")
            #expect(
                frames >= stream.envelopes.count, "\(stream.envelopes.count) envelopes received: \(record.jsonText)")
            let bytes = try #require(record.int("bytes"), "\(record.jsonText)")
            // The client read until end of stream, so it got every byte the server wrote: the 101, the frames and
            // the close answer.
            #expect(bytes == received, "client received \(received) bytes: \(record.jsonText)")
            #expect(record.int("dropped") == 0, "\(record.jsonText)")
            #expect(record.int("replayed") == 3, "\(record.jsonText)")

            // One record, and it stays one.
            let totals = try api.metrics()
            #expect(totals.int("messages") == 7)
            #expect(server.connectionClosedRecords(clientPort: clientPort).count == 1)
            let opens = server.logLines().filter {
                $0.string("event") == "connection_opened" && $0.string("client")?.hasSuffix(":\(clientPort)") == true
            }
            #expect(opens.count == 1, "\(opens)")
        }
    }
}
