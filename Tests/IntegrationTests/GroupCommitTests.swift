import Foundation
import Glibc
import Testing

/// Group commit: the ingest requests one connection has pipelined are stored in one transaction, a savepoint each,
/// and answered in order after its one commit. Each answer must be what the request would have got alone, a read
/// behind them must see them, and nothing behind an answer that closes the connection may be stored.
struct GroupCommitTests {
    static func post(key: String?, _ body: String, close: Bool = false) -> [UInt8] {
        var head = "POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        if let key { head += "Idempotency-Key: \(key)\r\n" }
        if close { head += "Connection: close\r\n" }
        return Array((head + "Content-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
    }

    @Test func pipelinedPostsAreAnsweredAsIfAloneAndNothingBehindACloseIsStored() throws {
        try withLivefeed(workers: 1) { server in
            let api = LivefeedAPI(server)
            _ = try api.post(text: "creates the channel")
            let one = #"{"channel":"general","user":"alice","text":"one"}"#
            var bytes = Self.post(key: "k-1", one)
            bytes += Self.post(key: nil, #"{"channel":999999,"user":"alice","text":"nowhere"}"#)
            bytes += Self.post(key: "k-1", one)
            bytes += Self.post(key: "k-2", #"{"channel":"general","user":"bob","text":"two"}"#)
            bytes += Self.post(key: "k-1", #"{"channel":"general","user":"alice","text":"not one"}"#)
            bytes += Array("GET /api/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            bytes += Self.post(key: nil, #"{"channel":"general","user":"carol","text":"three"}"#, close: true)
            bytes += Self.post(key: nil, #"{"channel":"general","user":"carol","text":"four"}"#)

            let socket = try TCPSocket(connectingToPort: server.port)
            defer { socket.close() }
            try socket.send(bytes)  // one write: the worker finds them all waiting in one turn
            let deadline = ContinuousClock.now + .seconds(15)
            func next(_ method: String = "POST") throws -> HTTPResponse {
                try HTTPResponse.read(from: socket, requestMethod: method, deadline: deadline)
            }
            func ids(_ r: HTTPResponse) throws -> [Int] { (try r.jsonObject()["ids"] as? [Any] ?? []).compactMap(jsonInt) }

            let stored = try next()
            #expect(stored.status == 201, "\(stored)")
            let first = try #require(try ids(stored).first)
            let unknown = try next()
            #expect(unknown.status == 422, "\(unknown)")
            #expect(try unknown.jsonObject().object("error")?.string("code") == "unknown_channel")
            let replay = try next()
            #expect(replay.status == 200, "\(replay)")
            #expect(try ids(replay) == [first])
            let second = try next()
            #expect(second.status == 201, "\(second)")
            #expect(try ids(second) == [first + 1], "the failed request in between took no id")
            let reused = try next()
            #expect(reused.status == 422, "\(reused)")
            #expect(try reused.jsonObject().object("error")?.string("code") == "idempotency_key_reused")
            let metrics = try next("GET")
            #expect(metrics.status == 200, "\(metrics)")
            #expect(try metrics.jsonObject().int("messages") == 3, "a read behind the posts sees them committed")
            let closing = try next()
            #expect(closing.status == 201, "\(closing)")
            #expect(try ids(closing) == [first + 2])
            #expect(closing.header("Connection")?.lowercased() == "close")
            let rest = try socket.readToEnd(limit: 1 << 16, deadline: deadline, waitingFor: "the close")
            #expect(rest.isEmpty, "answered past Connection: close: \(String(decoding: rest, as: UTF8.self))")

            // "four" came after the close: not stored. The others once each.
            #expect(try api.metrics().int("messages") == 4)
            let channel = try api.channelID(named: "general")
            let listed = try api.getObject("/api/channels/\(channel)/messages?limit=100")
            let texts = (listed["messages"] as? [[String: Any]] ?? []).compactMap { $0.string("text") }
            #expect(texts.filter { ["one", "two", "three", "four", "nowhere", "not one"].contains($0) }.sorted()
                == ["one", "three", "two"], "\(listed)")
        }
    }

    /// `--commit-clock` (the bench measures from the commit with it): every 201 says when its commit ended, on this
    /// host's CLOCK_MONOTONIC; the posts of one group share their one commit, so their stamps are equal; a replay
    /// (200) committed nothing and says nothing; without the flag no answer carries the header.
    @Test func commitClockStampsEach201WithItsGroupsCommit() throws {
        func monotonic() -> UInt64 {
            var t = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t)
            return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
        }
        func stamp(_ r: HTTPResponse) -> UInt64? { r.header("Livefeed-Commit-Clock").flatMap { UInt64($0) } }
        try withLivefeed(workers: 1, arguments: ["--commit-clock"]) { server in
            _ = try LivefeedAPI(server).post(text: "creates the channel")
            let one = #"{"channel":"general","user":"alice","text":"one"}"#
            var bytes = Self.post(key: "c-1", one)
            bytes += Self.post(key: "c-2", #"{"channel":"general","user":"bob","text":"two"}"#)
            bytes += Self.post(key: "c-1", one)
            bytes += Self.post(key: nil, #"{"channel":"general","user":"carol","text":"alone"}"#, close: true)
            let socket = try TCPSocket(connectingToPort: server.port)
            defer { socket.close() }
            let before = monotonic()
            try socket.send(bytes)
            let deadline = ContinuousClock.now + .seconds(15)
            let answers = try (0..<4).map { _ in try HTTPResponse.read(from: socket, requestMethod: "POST", deadline: deadline) }
            let after = monotonic()
            #expect(answers.map(\.status) == [201, 201, 200, 201], "\(answers)")
            let stamps = answers.map(stamp)
            #expect(stamps[2] == nil, "a replay committed nothing: \(answers[2])")
            for i in [0, 1, 3] {
                let t = try #require(stamps[i], "no Livefeed-Commit-Clock on \(answers[i])")
                #expect(t > before && t < after, "\(t) outside [\(before), \(after)]")
            }
            #expect(stamps[0] == stamps[1], "one group, one commit")
            #expect(stamps[3]! >= stamps[1]!, "the post alone committed after the group")
        }
        try withLivefeed(workers: 1) { server in
            let socket = try TCPSocket(connectingToPort: server.port)
            defer { socket.close() }
            try socket.send(Self.post(key: nil, #"{"channel":"general","user":"alice","text":"plain"}"#))
            let answer = try HTTPResponse.read(from: socket, requestMethod: "POST", deadline: ContinuousClock.now + .seconds(15))
            #expect(answer.status == 201, "\(answer)")
            #expect(answer.header("Livefeed-Commit-Clock") == nil, "the clock is only told when asked")
        }
    }
}
