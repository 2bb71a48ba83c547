import Foundation
import Glibc
import Testing

/// One client pipelining thousands of the most expensive requests (and reading the answers) cannot hold a worker:
/// each connection gets a bounded turn per loop turn, the fan-out runs on time, and the dashboard is computed once
/// per state of the database.
struct FairTurnTests {
    @Test func aPipelinedFloodOfDashboardsDoesNotDelayLiveSubscribers() throws {
        try withLivefeed(workers: 1) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(channel: "general", text: "creates the channel")
            let channel = try api.channelID(named: "general")
            // An archive big enough that the dashboard costs something: 20,000 messages over 200 channels.
            _ = try SQLiteWriter(databasePath: server.databasePath).execute(
                """
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
                INSERT INTO channels(name) SELECT 'c' || i FROM n;
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                INSERT INTO messages(channel_id, user_id, text)
                    SELECT (SELECT id FROM channels WHERE name = 'c' || (1 + i % 200)), 1, 'seeded ' || i FROM n;
                """)
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            defer { stream.close() }
            _ = try api.post(channel: "general", text: "before the flood")
            _ = try stream.nextMessage()

            let attacker = try TCPSocket(connectingToPort: server.port)
            defer { attacker.close() }
            let request = Array("GET /fragments/dashboard HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            let fd = attacker.fd
            // The attacker reads every answer, so nothing throttles it but its turn.
            let reader = BackgroundWork<Int>("attacker-reader") { shouldStop in
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                var total = 0
                let deadline = ContinuousClock.now + .seconds(60)
                while !shouldStop() && ContinuousClock.now < deadline {
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    guard poll(&p, 1, 100) > 0 else { continue }
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    total += n
                }
                return total
            }
            defer { reader.stopAndWait() }
            try attacker.send(Array(repeating: request, count: 6000).flatMap { $0 }, timeout: .seconds(30))

            var worst: Duration = .zero
            for i in 0..<10 {
                let sent = ContinuousClock.now
                let id = try api.post(channel: "general", text: "during the flood \(i)")
                let message = try stream.nextMessage(timeout: .seconds(10))
                #expect(LiveStream.messageID(message) == id)
                worst = max(worst, ContinuousClock.now - sent)
                usleep(100_000)
            }
            #expect(worst < .seconds(1), "a message took \(worst) to reach its subscriber during the flood")
            #expect(!server.logLines().contains { $0.string("event") == "worker_unresponsive" })
            #expect(!server.logLines().contains { $0.string("event") == "worker_exited" })
        }
    }
}
