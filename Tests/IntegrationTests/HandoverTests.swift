import Foundation
import Glibc
import Testing

/// A reload with `--reload-mode handover` (the default): the old workers give their live connections back to the
/// supervisor, which gives them to the new workers with their state. Clients see no status, no close, no gap and
/// no duplicate, while messages keep coming; the connection is counted once throughout.
struct HandoverTests {
    @Test func sighupMovesLiveClientsToTheNewWorkersWithoutAnyClientNoticing() throws {
        try withLivefeed(workers: 2, arguments: ["--max-per-client", "1000"]) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let epoch = try #require(try api.metrics().string("epoch"))
            let oldWorkers = try server.waitForWorkers(2)
            let streams = try (0..<40).map { _ in
                try LiveStream.open(
                    port: server.port, path: "/live/channels/\(channel)?after_id=\(first)", expectedEpoch: epoch)
            }
            defer { streams.forEach { $0.close() } }
            // An htmx page's connection (format=html) moves the same way.
            let page = try HTMLLiveStream.open(
                port: server.port, path: "/live/channels/\(channel)?after_id=\(first)&format=html")
            defer { page.close() }
            // A snapshot view moves too: it gets its current value again, nothing else.
            let metrics = try LiveStream.open(port: server.port, path: "/live/metrics", expectedEpoch: epoch)
            defer { metrics.close() }
            _ = try metrics.next("the first metrics") { $0.string("type") == "metrics" }
            var posted = [try api.post(text: "before the reload")]
            for stream in streams { try stream.expectMessages(posted) }

            server.send(SIGHUP)
            // Messages keep coming while the connections move, one request at a time.
            var posting = 0
            while server.logLines().filter({ $0.string("event") == "connection_moved" }).count < 42 {
                posting += 1
                #expect(posting < 1000, "the connections did not all move")
                if posting >= 1000 { break }
                posted.append(try api.post(text: "during the reload \(posting)"))
            }
            for pid in oldWorkers.values {
                try server.waitForLog("old worker \(pid) exited") {
                    $0.string("event") == "worker_exited" && $0.int("pid") == Int(pid)
                }
            }
            posted += try (1...5).map { try api.post(text: "after the reload \($0)") }

            // Every client has every message exactly once, in order, and nothing that ends or warns.
            for stream in streams { try stream.expectMessages(Array(posted.dropFirst())) }
            _ = try page.next("the last message") { $0.id == "messages" && $0.cursor == posted.last }
            #expect(Self.messageIDs(page) == posted, "the html client's messages")
            #expect(!page.frames.contains { $0.element.attribute("data-type") == "status" }, "the html client got a status")
            for stream in streams + [metrics] {
                let statuses = stream.envelopes.filter { $0.string("type") == "status" }
                #expect(statuses.isEmpty, "\(stream.path) was told: \(statuses.map(\.jsonText))")
            }
            _ = try metrics.next("metrics after the reload") {
                $0.string("type") == "metrics" && ($0.int("cursor") ?? 0) >= posted.last!
            }

            // Held by the new workers now, each connection counted once.
            let newWorkers = try server.waitForWorkers(2)
            #expect(Set(newWorkers.values).isDisjoint(with: Set(oldWorkers.values)))
            for stream in streams.prefix(5) {
                let holders = ProcessOwnership.holdersOfServerSide(
                    serverPort: server.port, clientPort: stream.client.localPort,
                    among: Array(oldWorkers.values) + Array(newWorkers.values))
                #expect(holders.count == 1 && newWorkers.values.contains(holders[0]), "held by \(holders)")
            }
            let moved = server.logLines().filter { $0.string("event") == "connection_moved" }
            #expect(moved.count == 42, "\(moved.count) connection_moved records")
            #expect(Set(moved.compactMap { $0.int("conn") }).count == 42, "a connection moved twice")
            let scrape = try server.scrapeMetrics()
            #expect(scrape.value("livefeed_connections_moved_total") == 42)
            #expect(scrape.value("livefeed_connection_move_failures_total") == 0)
            #expect(scrape.value("livefeed_connections", ["view": "channel"]) == 41)
            #expect(scrape.value("livefeed_connections_open") == 42)
            #expect(!server.logLines().contains { $0.string("event") == "connection_closed" && $0.string("live_view") != nil })

            streams.forEach { $0.close() }
            metrics.close()
            page.close()
            // Each connection ends once, with its whole account: frames sent by both workers.
            try server.waitForGaugesAtZero()
            let closes = server.logLines().filter { $0.string("event") == "connection_closed" && $0.string("live_view") == "channel" }
            #expect(closes.count == 41)
            #expect(closes.allSatisfy { ($0.int("frames") ?? 0) >= posted.count }, "\(closes.map(\.jsonText).prefix(2))")
        }
    }

    /// A SIGHUP during a reload runs another one after it: connections move on from workers that were new a
    /// moment ago, some twice, and still nobody notices.
    @Test func twoReloadsInARowMoveConnectionsTwice() throws {
        try withLivefeed(workers: 2) { server in try Self.twoReloads(server) }
    }

    private static func twoReloads(_ server: ServerProcess) throws {
        let api = LivefeedAPI(server)
        let first = try api.post(text: "creates the channel")
        let channel = try api.channelID(named: "general")
        let streams = try (0..<10).map { _ in
            try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
        }
        defer { streams.forEach { $0.close() } }
        var posted = [try api.post(text: "before the reloads")]
        for stream in streams { try stream.expectMessages(posted) }
        let connIDs = server.logLines().filter { $0.string("event") == "connection_opened" }.compactMap { $0.int("conn") }
        #expect(connIDs.count == 10)
        server.send(SIGHUP)
        // Signals of one kind do not queue: the second goes once the first is seen.
        try server.waitForLog("the first reload") { $0.string("event") == "reload_started" }
        server.send(SIGHUP)
        var posting = 0
        while server.logLines().filter({ $0.string("event") == "reload_complete" }).count < 2 && posting < 1000 {
            posting += 1
            posted.append(try api.post(text: "during the reloads \(posting)"))
        }
        try server.waitForLog("generation 3 serves") {
            $0.string("event") == "reload_complete" && $0.int("generation") == 3
        }
        try eventually(timeout: .seconds(20), "every connection moved on to generation 3") {
            lastGenerations(server.logLines()) == Dictionary(uniqueKeysWithValues: connIDs.map { ($0, 3) })
        }
        posted += try (1...3).map { try api.post(text: "after the reloads \($0)") }
        for stream in streams {
            try stream.expectMessages(Array(posted.dropFirst()))
            #expect(!stream.envelopes.contains { $0.string("type") == "status" }, "\(stream.path) got a status")
        }
        let moved = server.logLines().filter { $0.string("event") == "connection_moved" }
        #expect(moved.count >= 10 && moved.count <= 20, "\(moved.count) moves for 10 connections")
        #expect(try server.scrapeMetrics().value("livefeed_connection_move_failures_total") == 0)
    }

    /// A connection that cannot move (here: the client is in the middle of sending a frame, so the worker holds
    /// part of it) keeps its old worker, and after the handover grace gets today's `restart` status and 1012 to
    /// resume by cursor; the others move meanwhile.
    @Test func aConnectionCaughtMidFrameFallsBackTo1012() throws {
        try withLivefeed(workers: 1, arguments: ["--close-spread-ms", "100"]) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let moving = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            defer { moving.close() }
            let stuck = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            defer { stuck.close() }
            let before = try api.post(text: "before the reload")
            for stream in [moving, stuck] { try stream.expectMessages([before]) }
            try stuck.client.socket.send([0x89])  // the first byte of a ping, and nothing more

            server.send(SIGHUP)
            try server.waitForLog("the other connection moved") { $0.string("event") == "connection_moved" }
            let ending = try stuck.awaitEnding(timeout: .seconds(15))
            #expect(ending == .closeFrame(code: 1012, reason: "restart"), "\(ending)")
            #expect(stuck.envelopes.last?.object("data")?.string("state") == "restart")
            try moving.expectMessages([try api.post(text: "after the reload")])
            #expect(try server.scrapeMetrics().value("livefeed_connections_moved_total") == 1)
        }
    }

    /// Per connection, the generation of the worker its last `connection_moved` gave it to.
    static func lastGenerations(_ records: [[String: Any]]) -> [Int: Int] {
        var last: [Int: Int] = [:]
        for r in records where r.string("event") == "connection_moved" {
            if let conn = r.int("conn"), let generation = r.int("generation") { last[conn] = generation }
        }
        return last
    }

    /// The message ids of an html stream's `#messages` appends, in order (a frame may hold several).
    static func messageIDs(_ stream: HTMLLiveStream) -> [Int] {
        var ids: [Int] = []
        var last = ""
        for frame in stream.frames where frame.id == "messages" && frame.html != last {
            last = frame.html
            var rest = Substring(frame.html)
            while let r = rest.range(of: "id=\"msg-") {
                rest = rest[r.upperBound...]
                let digits = rest.prefix { $0.isNumber }
                if let id = Int(digits) { ids.append(id) }
            }
        }
        return ids
    }
}
