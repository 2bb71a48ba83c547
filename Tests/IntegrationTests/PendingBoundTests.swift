import Foundation
import Glibc
import Testing

/// Connections that never finish their heads are bounded (`--max-pending`, by default what the descriptor limit
/// leaves after a reserve): the oldest are shed with 408, and /healthz and /metrics always get in.
struct PendingBoundTests {
    /// Opens `count` connections from `addresses` loopback addresses, each sending half a head and then nothing.
    private func silent(_ count: Int, port: UInt16, addresses: Int, subnet: Int) throws -> [TCPSocket] {
        var sockets: [TCPSocket] = []
        for i in 0..<count {
            let s = try TCPSocket(connectingToPort: port, from: "127.0.\(subnet).\(1 + i % addresses)")
            try s.send(Array("GET /api/metrics HTTP/1.1\r\n".utf8))
            sockets.append(s)
        }
        return sockets
    }

    @Test func pastTheBoundTheOldestHeadsAreShedAndHealthzStillAnswers() throws {
        try withLivefeed(arguments: ["--max-pending", "40"]) { server in
            let sockets = try silent(60, port: server.port, addresses: 2, subnet: 3)
            defer { sockets.forEach { $0.close() } }
            // The 20 oldest made room for the 20 newest, and were told so.
            for s in sockets.prefix(20) {
                let response = try HTTPResponse.read(from: s, requestMethod: "GET", deadline: .now + .seconds(5))
                #expect(response.status == 408, "\(response)")
                #expect(String(decoding: response.body, as: UTF8.self).contains("pending_shed"))
            }
            let scrape = try server.scrapeMetrics()
            #expect(scrape.count("livefeed_pending_connections_max") == 40)
            #expect(scrape.count("livefeed_pending_connections") <= 40)
            let begin = ContinuousClock.now
            #expect(try server.http.get("/healthz").status == 200)
            #expect(ContinuousClock.now - begin < .seconds(1))
            // Each check came in as the newest, so only the oldest silent ones left for it: the newest still wait.
            #expect(!sockets.last!.isReadable(within: .zero), "the newest silent connection was shed")
            let after = try server.scrapeMetrics()
            #expect(
                after.count("livefeed_connections_refused_total", ["view": "unknown", "reason": "pending_shed"]) >= 20)
        }
    }

    @Test func underALowDescriptorLimitSilentConnectionsNeverStopHealthzOrPauseAccepting() throws {
        // 300 descriptors in all (workers inherit it): the default bound is 300 - 64 - 32 - 2 × 2 = 200.
        let launch = ServerProcess.Launch(wrapper: ["/usr/bin/prlimit", "--nofile=300:300", "--"])
        try withLivefeed(launch: launch) { server in
            let listening = try #require(server.logLines().first { $0.string("event") == "listening" })
            #expect(listening.int("max_pending") == 200)
            let sockets = try silent(260, port: server.port, addresses: 5, subnet: 4)
            defer { sockets.forEach { $0.close() } }
            try eventually(timeout: .seconds(5), "the oldest 60 shed") {
                sockets.prefix(60).allSatisfy { $0.isReadable(within: .zero) }
            }
            var slowest = Duration.zero
            for _ in 0..<20 {
                let begin = ContinuousClock.now
                #expect(try server.http.get("/healthz").status == 200)
                #expect(try server.http.get("/metrics").status == 200)
                slowest = max(slowest, ContinuousClock.now - begin)
            }
            #expect(slowest < .seconds(1), "slowest /healthz + /metrics took \(slowest)")
            let scrape = try server.scrapeMetrics()
            #expect(scrape.value("livefeed_accept_pauses_total") == 0)
            #expect(scrape.count("livefeed_pending_connections") <= 200)
            #expect(!server.logLines().contains { $0.string("event") == "accept_paused" })
        }
    }
}
