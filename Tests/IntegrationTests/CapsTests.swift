import Foundation
import Glibc
import Testing

/// The supervisor's caps: global, per live view, per client address; refusals before any upgrade; slots released
/// exactly once, so every gauge returns to zero.
struct CapsTests {
    @Test func connectionPastTheGlobalCapIsRefusedAndTheNextIsAdmittedOnceASlotFrees() throws {
        try withLivefeed(arguments: ["--max-connections", "3"]) { server in
            try LivefeedAPI(server).post(text: "creates channel 1")
            try server.waitForGaugesAtZero()  // the POST's slot is released by its worker's record, asynchronously
            // Three served keep-alive connections hold the three slots.
            var held = try (0..<3).map { _ in try HTTPConnection(port: server.port) }
            for c in held { #expect(try c.get("/api/metrics").status == 200) }

            expectRefusal(try server.http.get("/api/metrics"), status: 503, code: "global_cap", json: true)
            expectRefusal(try server.http.get("/channels"), status: 503, code: "global_cap", json: false)
            expectRefusal(
                try refusedUpgrade(port: server.port, path: "/live/channels/1"), status: 503, code: "global_cap",
                json: true)
            // The supervisor's own endpoints answer even when full: monitoring must see a full server.
            #expect(try server.http.get("/healthz").status == 200)

            held.removeFirst().close()
            try eventually(timeout: .seconds(10), "a slot freed") {
                try server.scrapeMetrics().value("livefeed_connections_open") == 2
            }
            let next = try HTTPConnection(port: server.port)
            #expect(try next.get("/api/metrics").status == 200)
            held.append(next)
            expectRefusal(try server.http.get("/api/channels"), status: 503, code: "global_cap", json: true)

            let scrape = try server.scrapeMetrics()
            #expect(scrape.count("livefeed_connections_refused_total", ["view": "http", "reason": "global_cap"]) == 3)
            #expect(
                scrape.count("livefeed_connections_refused_total", ["view": "channel", "reason": "global_cap"]) == 1)
            #expect(scrape.value("livefeed_connections_max") == 3)
            for c in held { c.close() }
            try server.waitForGaugesAtZero()
        }
    }

    @Test func viewCapsAreIndependentOfEachOtherAndOfPlainHTTP() throws {
        try withLivefeed(arguments: ["--enable-echo", "--max-live", "100", "--max-live-per-view", "channel=2,echo=1"]) {
            server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let path = "/live/channels/\(channel)?after_id=\(first)"
            var streams = try (0..<2).map { _ in try LiveStream.open(port: server.port, path: path) }
            defer { streams.forEach { $0.close() } }
            expectRefusal(try refusedUpgrade(port: server.port, path: path), status: 503, code: "view_cap", json: true)

            // The echo view has its own cap, and plain HTTP only the global one.
            let echo = try WebSocketClient.connect(port: server.port, path: "/live/echo")
            defer { echo.close() }
            expectRefusal(
                try refusedUpgrade(port: server.port, path: "/live/echo"), status: 503, code: "view_cap", json: true)
            for _ in 0..<5 { #expect(try server.http.get("/api/metrics").status == 200) }

            let scrape = try server.scrapeMetrics()
            #expect(scrape.value("livefeed_connections", ["view": "channel"]) == 2)
            #expect(scrape.value("livefeed_connections", ["view": "echo"]) == 1)
            #expect(scrape.value("livefeed_live_connections_max", ["view": "channel"]) == 2)
            #expect(scrape.value("livefeed_live_connections_max", ["view": "echo"]) == 1)
            #expect(scrape.value("livefeed_live_connections_max", ["view": "users"]) == 100)
            #expect(scrape.count("livefeed_connections_refused_total", ["view": "channel", "reason": "view_cap"]) == 1)
            #expect(scrape.count("livefeed_connections_refused_total", ["view": "echo", "reason": "view_cap"]) == 1)

            // A freed channel slot admits the next channel client; the stream works.
            streams.removeFirst().close()
            try eventually(timeout: .seconds(10), "the channel slot freed") {
                try server.scrapeMetrics().value("livefeed_connections", ["view": "channel"]) == 1
            }
            let again = try LiveStream.open(port: server.port, path: path)
            streams.append(again)
            try again.expectMessages([try api.post(text: "after the slot freed")])

            streams.forEach { $0.close() }
            streams = []
            echo.close()
            try server.waitForGaugesAtZero()
        }
    }

    @Test func perAddressCapCountsConnectionsStillWaitingForTheirHead() throws {
        try withLivefeed(arguments: ["--max-per-client", "3"]) { server in
            // Three connections from 127.0.0.1 that have not finished their head yet (slowloris-like).
            let waiting = try (0..<3).map { _ in try HTTPConnection(port: server.port) }
            defer { waiting.forEach { $0.close() } }
            for c in waiting { try c.sendRaw(Array("GET /api/metrics HTTP/1.1\r\nHost: x\r\n".utf8)) }
            try eventually(timeout: .seconds(10), "three connections waiting at the door") {
                try server.scrapeMetrics(from: "127.0.0.9").value("livefeed_pending_connections") == 3
            }

            // A fourth from the same address is refused, JSON or page as its path asks.
            expectRefusal(try server.http.get("/api/metrics"), status: 429, code: "client_cap", json: true)
            expectRefusal(try server.http.get("/users"), status: 429, code: "client_cap", json: false)
            // Another address is not affected.
            let other = try HTTPConnection(port: server.port, from: "127.0.0.2")
            defer { other.close() }
            #expect(try other.get("/api/metrics", closeAfter: true).status == 200)

            // A waiting connection that finishes its head is served: it held its slot all along.
            try waiting[0].sendRaw(Array("Connection: close\r\n\r\n".utf8))
            #expect(try waiting[0].readResponse().status == 200)
            try eventually(timeout: .seconds(10), "its slot freed after the answer") {
                try server.scrapeMetrics(from: "127.0.0.9").value("livefeed_busiest_client_connections") == 2
            }
            #expect(try server.http.get("/api/metrics").status == 200)

            let scrape = try server.scrapeMetrics(from: "127.0.0.9")
            #expect(scrape.count("livefeed_connections_refused_total", ["view": "http", "reason": "client_cap"]) == 2)
            #expect(scrape.value("livefeed_client_connections_max") == 3)
            // The two still waiting hang up halfway: their slots go at once, not at the head deadline.
            waiting.forEach { $0.close() }
            let after = try server.waitForGaugesAtZero(from: "127.0.0.9", timeout: .seconds(5))
            #expect(after.count("livefeed_connections_abandoned_total", ["reason": "closed_before_request"]) == 2)
        }
    }

    /// The supervisor counts a connection against the view of its first request head. A keep-alive connection that
    /// began as plain HTTP would dodge the view cap if it could upgrade later, so the worker refuses any upgrade that
    /// is not the first request on its connection; and a connection that began as live cannot serve plain requests.
    @Test func keepAliveConnectionCannotUpgradeAroundTheViewCap() throws {
        try withLivefeed(arguments: ["--max-live-per-view", "channel=1"]) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let path = "/live/channels/\(channel)?after_id=\(first)"
            let holder = try LiveStream.open(port: server.port, path: path)
            defer { holder.close() }
            expectRefusal(try refusedUpgrade(port: server.port, path: path), status: 503, code: "view_cap", json: true)

            func upgradeOnKeepAlive() throws -> (HTTPResponse, closed: Bool) {
                let c = try HTTPConnection(port: server.port)
                defer { c.close() }
                #expect(try c.get("/api/metrics").status == 200)
                let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
                let response = try c.request(
                    "GET", path,
                    headers: [
                        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
                        ("Sec-WebSocket-Version", "13"), ("Origin", "http://127.0.0.1:\(server.port)"),
                    ])
                return (response, c.serverClosed(within: .seconds(5)))
            }
            let (full, fullClosed) = try upgradeOnKeepAlive()
            #expect(full.status == 400, "\(full)")
            #expect((try? full.jsonObject())?.object("error")?.string("code") == "upgrade_not_first")
            #expect(fullClosed, "the connection must close after the refused upgrade")

            // The rule does not depend on the view being full.
            holder.close()
            try eventually(timeout: .seconds(10), "the channel slot freed") {
                try server.scrapeMetrics().value("livefeed_connections", ["view": "channel"]) == 0
            }
            let (free, freeClosed) = try upgradeOnKeepAlive()
            #expect(free.status == 400 && freeClosed, "\(free)")

            // And a connection counted as live cannot be used for plain requests instead.
            let live = try HTTPConnection(port: server.port)
            defer { live.close() }
            let plain = try live.get(path)
            #expect(plain.status == 426, "\(plain)")
            #expect(live.serverClosed(within: .seconds(5)))
            try server.waitForGaugesAtZero()
        }
    }

    @Test func killedWorkerReleasesExactlyItsSlotsAndComesBack() throws {
        try withLivefeed(workers: 2, arguments: ["--max-connections", "6"]) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let workers = try server.waitForWorkers(2)
            try server.waitForGaugesAtZero()
            let path = "/live/channels/\(channel)?after_id=\(first)"
            var streams = try (0..<6).map { _ in try LiveStream.open(port: server.port, path: path) }
            defer { streams.forEach { $0.close() } }
            expectRefusal(
                try refusedUpgrade(port: server.port, path: path), status: 503, code: "global_cap", json: true)

            var owners: [pid_t] = []
            try eventually(timeout: .seconds(5), "every stream held by one worker") {
                owners = streams.map { stream in
                    let holders = ProcessOwnership.holdersOfServerSide(
                        serverPort: server.port, clientPort: stream.client.localPort, among: Array(workers.values))
                    return holders.count == 1 ? holders[0] : 0
                }
                return !owners.contains(0)
            }
            let victim = owners[0]
            let victimCount = owners.filter { $0 == victim }.count
            let victimIndex = try #require(workers.first { $0.value == victim }?.key)
            server.isExpectedErrorRecord = WorkerLifecycleTests.recordsAbout(victim)
            kill(victim, SIGKILL)

            for (stream, owner) in zip(streams, owners) where owner == victim {
                let ending = try stream.awaitEnding(timeout: .seconds(10))
                #expect(ending == .endOfStream || ending == .reset, "\(ending)")
            }
            try eventually(timeout: .seconds(10), "exactly the victim's slots freed") {
                let scrape = try server.scrapeMetrics()
                return scrape.value("livefeed_connections", ["view": "channel"]) == Double(6 - victimCount)
                    && scrape.count("livefeed_connections_closed_total", ["view": "channel", "reason": "worker_exit"])
                        == victimCount
            }
            // The survivors still stream.
            let next = try api.post(text: "after the kill")
            for (stream, owner) in zip(streams, owners) where owner != victim { try stream.expectMessages([next]) }

            // The worker comes back, and exactly the freed slots can be taken again.
            try server.waitForLog("worker \(victimIndex) restarted after the kill") {
                $0.string("event") == "worker_started" && $0.int("worker") == victimIndex
                    && $0.int("pid") != Int(victim)
            }
            try server.waitForWorkers(2)
            try eventually(timeout: .seconds(10), "only the surviving streams hold slots") {
                try server.scrapeMetrics().value("livefeed_connections_open") == Double(6 - victimCount)
            }
            let survivors = zip(streams, owners).filter { $0.1 != victim }.map(\.0)
            for stream in zip(streams, owners).filter({ $0.1 == victim }).map(\.0) { stream.close() }
            streams = survivors
            for _ in 0..<victimCount { streams.append(try LiveStream.open(port: server.port, path: path)) }
            expectRefusal(
                try refusedUpgrade(port: server.port, path: path), status: 503, code: "global_cap", json: true)

            streams.forEach { $0.close() }
            streams = []
            let scrape = try server.waitForGaugesAtZero()
            #expect(scrape.count("livefeed_worker_restarts_total", ["worker": String(victimIndex)]) == 1)
        }
    }
}
