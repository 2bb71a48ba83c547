import Foundation
import Glibc
import Testing

/// Hostile and unlucky clients at the door: slow heads are cut at the deadline, and running out of descriptors
/// pauses accepting instead of spinning.
struct DoorTests {
    @Test func twoHundredSlowlorisConnectionsAreCutAtTheDeadlineWhileNormalClientsAreServed() throws {
        let deadline = Duration.milliseconds(2000)
        try withLivefeed(arguments: ["--head-timeout-ms", "2000"]) { server in
            // Each slow client from its own loopback address, as a botnet would come, so the per-address cap is
            // not what stops them.
            var slow: [(socket: TCPSocket, connectedAt: ContinuousClock.Instant)] = []
            defer { slow.forEach { $0.socket.close() } }
            for i in 0..<200 {
                let socket = try TCPSocket(connectingToPort: server.port, from: "127.0.\(1 + i / 200).\(1 + i % 200)")
                let connectedAt = ContinuousClock.now
                try socket.send(Array("GET /channels HTTP/1.1\r\nHost: 127.0.0.1\r\n".utf8))
                slow.append((socket, connectedAt))
            }
            try eventually(timeout: .seconds(5), "200 connections waiting at the door") {
                try server.scrapeMetrics().value("livefeed_pending_connections") == 200
            }

            var cut: [Duration?] = Array(repeating: nil, count: slow.count)
            var normal: [Duration] = []
            var failures: [String] = []
            var trickles = 0
            let started = ContinuousClock.now
            let giveUp = started + deadline + .seconds(10)
            while cut.contains(where: { $0 == nil }) && ContinuousClock.now < giveUp {
                // They keep sending a header line now and then, as slowloris does, until shortly before the deadline
                // (later bytes could race the server's close and turn its answer into a reset).
                if ContinuousClock.now - started < deadline - .milliseconds(700) && trickles < 4
                    && ContinuousClock.now - started > .milliseconds(300 * trickles)
                {
                    trickles += 1
                    for (i, s) in slow.enumerated() where cut[i] == nil {
                        try? s.socket.send(Array("X-Slow-\(trickles): 1\r\n".utf8), timeout: .milliseconds(100))
                    }
                }
                if normal.count < 100 {
                    let begin = ContinuousClock.now
                    do {
                        let response = try server.http.get("/api/metrics")
                        if response.status != 200 { failures.append("\(response)") }
                    } catch {
                        failures.append("\(error)")
                    }
                    normal.append(ContinuousClock.now - begin)
                }
                for i in slow.indices where cut[i] == nil && slow[i].socket.isReadable(within: .zero) {
                    cut[i] = ContinuousClock.now - slow[i].connectedAt
                    let response = try HTTPResponse.read(
                        from: slow[i].socket, requestMethod: "GET", deadline: .now + .seconds(5))
                    #expect(response.status == 408, "\(response)")
                    #expect(
                        !(try slow[i].socket.fill(deadline: .now + .seconds(5), waitingFor: "EOF")), "closed after 408")
                }
                if normal.count >= 100 { usleep(5_000) }
            }
            let times = cut.compactMap { $0 }
            #expect(times.count == 200, "\(200 - times.count) slow connections never cut")
            #expect(
                times.allSatisfy { $0 >= deadline - .milliseconds(100) }, "cut before the deadline: \(times.min()!)")
            #expect(times.allSatisfy { $0 <= deadline + .seconds(3) }, "cut long after the deadline: \(times.max()!)")
            #expect(failures.isEmpty, "normal clients failed: \(failures.prefix(5))")
            #expect(normal.count >= 10, "only \(normal.count) normal requests while the slow ones waited")
            #expect(normal.max()! < .seconds(5), "slowest normal request took \(normal.max()!)")

            let scrape = try server.waitForGaugesAtZero()
            #expect(
                scrape.count("livefeed_connections_refused_total", ["view": "unknown", "reason": "head_timeout"]) == 200
            )
        }
    }

    /// TCP_DEFER_ACCEPT: a connection that sends nothing stays with the kernel for `--defer-accept-s` (no
    /// descriptor, no wakeup, no epoll registration in the supervisor), is then accepted and cut at the head
    /// deadline like any other. With 0 it is accepted at once and waits at the door.
    @Test(arguments: [0, 2])
    func aSilentConnectionReachesTheDoorOnlyAfterTheDeferPeriod(deferSeconds: Int) throws {
        let arguments = ["--defer-accept-s", "\(deferSeconds)", "--head-timeout-ms", "300"]
        try withLivefeed(arguments: arguments) { server in
            let socket = try TCPSocket(connectingToPort: server.port)
            defer { socket.close() }
            let connectedAt = ContinuousClock.now
            if deferSeconds == 0 {
                try eventually(timeout: .seconds(5), "the silent connection waits at the door") {
                    try server.scrapeMetrics().value("livefeed_pending_connections") == 1
                }
            } else {
                // Linux resends the SYN-ACK and accepts no sooner than a second in: a scrape before that sees none.
                let pending = try server.scrapeMetrics().value("livefeed_pending_connections")
                if ContinuousClock.now - connectedAt < .milliseconds(800) {
                    #expect(pending == 0, "a silent connection was accepted before the defer period ended")
                }
                // Meanwhile a client that sends its head is served at once.
                #expect(try server.http.get("/healthz").status == 200)
            }
            let response = try HTTPResponse.read(from: socket, requestMethod: "GET", deadline: .now + .seconds(15))
            let waited = ContinuousClock.now - connectedAt
            #expect(response.status == 408, "\(response)")
            if deferSeconds > 0 {
                #expect(waited >= .milliseconds(900), "answered \(waited) after connecting")
            }
            let scrape = try server.waitForGaugesAtZero()
            #expect(
                scrape.count("livefeed_connections_refused_total", ["view": "unknown", "reason": "head_timeout"]) == 1)
        }
    }

    @Test func runningOutOfDescriptorsPausesAcceptingLogsOnceAndNeverSpins() throws {
        try withLivefeed(workers: 1) { server in
            #expect(try server.http.get("/api/metrics").status == 200)
            let inUse = ProcessResources.openDescriptorCount(server.pid)
            let original = try ProcessResources.setDescriptorSoftLimit(server.pid, UInt64(inUse + 10))
            var restored = false
            defer { if !restored { _ = try? ProcessResources.setDescriptorSoftLimit(server.pid, original) } }

            // Slow clients from many addresses take the last descriptors; the rest wait in the listen backlog.
            var clients: [TCPSocket] = []
            defer { clients.forEach { $0.close() } }
            for i in 0..<30 {
                let socket = try TCPSocket(connectingToPort: server.port, from: "127.0.2.\(1 + i)")
                try socket.send(Array("GET /api/metrics HTTP/1.1\r\n".utf8))
                clients.append(socket)
            }
            try server.waitForLog("accept_paused") { $0.string("event") == "accept_paused" }
            let before = try #require(ProcessResources.cpuTicks(server.pid))
            usleep(1_000_000)
            let after = try #require(ProcessResources.cpuTicks(server.pid))
            // A loop retrying accept would burn the whole second (100 ticks); pausing costs next to nothing.
            #expect(after - before <= 25, "supervisor used \(after - before) ticks in 1 s while out of descriptors")
            #expect(server.logLines().filter { $0.string("event") == "accept_paused" }.count == 1)

            // Once descriptors free up (the slow clients leave), it accepts again by itself.
            clients.forEach { $0.close() }
            clients = []
            try server.waitForLog("accept_resumed") { $0.string("event") == "accept_resumed" }
            #expect(try server.http.get("/api/metrics").status == 200)
            _ = try ProcessResources.setDescriptorSoftLimit(server.pid, original)
            restored = true
            let scrape = try server.waitForGaugesAtZero()
            #expect(scrape.value("livefeed_accept_pauses_total") == 1)
            #expect(scrape.value("livefeed_accept_paused") == 0)
            #expect(server.logLines().filter { $0.string("event") == "accept_paused" }.count == 1)
        }
    }
}
