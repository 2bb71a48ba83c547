import Foundation
import Glibc
import Testing

/// A burst of connections larger than a worker's control socket holds waits for the worker instead of being
/// refused `no_worker`. The socket's send buffer is shrunk (LIVEFEED_CONTROL_SNDBUF: 16 KiB as the kernel doubles
/// it) and the worker is stopped with SIGSTOP while the burst arrives, so its socket is full for certain rather than
/// by luck: a message carries up to 32 handoffs, and the socket holds at most 11 messages (net.unix.max_dgram_qlen
/// is 10) or 16 KiB of them, so 500 handoffs (about 35 KiB of records) never all fit.
struct HandoffQueueTests {
    static let burst = 500
    static let smallSocket = ["LIVEFEED_CONTROL_SNDBUF": "8192"]

    /// Opens `burst` connections, each sending a complete head for `path`, while `worker` is stopped.
    private func burst(_ server: ServerProcess, path: String) throws -> [HTTPConnection] {
        var connections: [HTTPConnection] = []
        for _ in 0..<Self.burst {
            let c = try HTTPConnection(port: server.port)
            try c.send("GET", path, closeAfter: true)
            connections.append(c)
        }
        return connections
    }

    @Test func aBurstLargerThanTheControlSocketWaitsForTheWorkerAndIsAllServed() throws {
        try withLivefeed(workers: 1, arguments: ["--max-per-client", "1000"], environment: Self.smallSocket) { server in
            #expect(try server.http.get("/api/metrics").status == 200)
            // That connection is closed and counted out before the worker stops, so the counts below are the burst's.
            try server.waitForGaugesAtZero()
            let worker = try #require(try server.waitForWorkers(1).values.first)
            kill(worker, SIGSTOP)
            var stopped = true
            defer { if stopped { kill(worker, SIGCONT) } }
            let connections = try burst(server, path: "/api/metrics")
            defer { connections.forEach { $0.close() } }
            // Every head is in: each connection was either sent to the stopped worker or waits in its queue.
            var last = (pending: -1, open: -1, queued: -1)
            try eventually(timeout: .seconds(10), "the burst past the door; last (pending, open, queued): \(last)") {
                let scrape = try server.scrapeMetrics()
                last = (
                    scrape.count("livefeed_pending_connections"), scrape.count("livefeed_connections_open"),
                    scrape.count("livefeed_handoffs_queued")
                )
                return last.pending == 0 && last.open == Self.burst
            }
            let queued = try server.scrapeMetrics().count("livefeed_handoffs_queued")
            #expect(queued > 0 && queued < Self.burst, "\(queued) queued")
            kill(worker, SIGCONT)
            stopped = false

            var statuses: [Int: Int] = [:]
            for c in connections {
                let response = try c.readResponse(timeout: .seconds(20))
                statuses[response.status, default: 0] += 1
            }
            #expect(statuses == [200: Self.burst], "\(statuses)")
            let scrape = try server.waitForGaugesAtZero()
            #expect(scrape.count("livefeed_handoffs_queued") == 0)
            // What waited went out as room appeared, a message's worth (32) at a time, not one message each.
            let messages = scrape.count("livefeed_handoff_messages_total")
            #expect(messages > 0 && messages <= Self.burst / 2, "\(messages) messages for \(Self.burst + 1) handoffs")
            #expect(scrape.count("livefeed_connections_refused_total", ["view": "http", "reason": "no_worker"]) == 0)
        }
    }

    @Test func aQueuedConnectionIsRefusedAtItsHeadDeadline() throws {
        let arguments = ["--max-per-client", "1000", "--head-timeout-ms", "1500"]
        try withLivefeed(workers: 1, arguments: arguments, environment: Self.smallSocket) { server in
            #expect(try server.http.get("/api/metrics").status == 200)
            // That connection is closed and counted out before the worker stops, so the counts below are the burst's.
            try server.waitForGaugesAtZero()
            let worker = try #require(try server.waitForWorkers(1).values.first)
            kill(worker, SIGSTOP)
            var stopped = true
            defer { if stopped { kill(worker, SIGCONT) } }
            let started = ContinuousClock.now
            let connections = try burst(server, path: "/api/metrics")
            defer { connections.forEach { $0.close() } }
            // Those that reached the stopped worker's socket stay unanswered until it runs again; the rest wait
            // in the queue and are refused once their head deadline passes.
            try eventually(timeout: .seconds(10), "the queue refused at the deadline") {
                let scrape = try server.scrapeMetrics()
                return scrape.count("livefeed_pending_connections") == 0
                    && scrape.count("livefeed_handoffs_queued") == 0
                    && scrape.count("livefeed_connections_refused_total", ["view": "http", "reason": "no_worker"]) > 0
            }
            // The refusals were written before the scrape that saw them counted was answered: a short look each.
            var refused = 0
            for c in connections where c.socket.isReadable(within: .milliseconds(5)) {
                let response = try c.readResponse(timeout: .seconds(5))
                #expect(response.status == 503, "\(response)")
                #expect(response.header("Retry-After") == "1")
                refused += 1
            }
            #expect(ContinuousClock.now - started >= .milliseconds(1400), "refused before the head deadline")
            #expect(refused > 0 && refused < Self.burst, "\(refused) refused")
            kill(worker, SIGCONT)
            stopped = false
            let scrape = try server.waitForGaugesAtZero()
            #expect(scrape.count("livefeed_handoffs_queued") == 0)
            #expect(
                scrape.count("livefeed_connections_refused_total", ["view": "http", "reason": "no_worker"]) == refused)
        }
    }

    @Test func aWorkerKilledWithAQueueLeavesNoConnectionWaitingAndNoSlotHeld() throws {
        try withLivefeed(workers: 1, arguments: ["--max-per-client", "1000"], environment: Self.smallSocket) { server in
            #expect(try server.http.get("/api/metrics").status == 200)
            // That connection is closed and counted out before the worker stops, so the counts below are the burst's.
            try server.waitForGaugesAtZero()
            let worker = try #require(try server.waitForWorkers(1).values.first)
            server.isExpectedErrorRecord = WorkerLifecycleTests.recordsAbout(worker)
            kill(worker, SIGSTOP)
            let connections = try burst(server, path: "/api/metrics")
            defer { connections.forEach { $0.close() } }
            try eventually(timeout: .seconds(10), "a queue formed") {
                try server.scrapeMetrics().count("livefeed_handoffs_queued") > 0
            }
            let started = ContinuousClock.now
            kill(worker, SIGKILL)
            // Those queued are refused at once (no worker runs while it restarts), not at their head deadline;
            // those already in the dead worker's socket are closed with it.
            var statuses: [Int: Int] = [:]
            for c in connections {
                do {
                    let response = try c.readResponse(timeout: .seconds(5))
                    statuses[response.status, default: 0] += 1
                } catch {
                    statuses[0, default: 0] += 1
                }
            }
            #expect(ContinuousClock.now - started < .seconds(5), "answers waited for the head deadline")
            #expect(statuses[503, default: 0] > 0, "\(statuses)")
            #expect(Set(statuses.keys).isSubset(of: [0, 503]), "\(statuses)")
            let scrape = try server.waitForGaugesAtZero()
            #expect(scrape.count("livefeed_handoffs_queued") == 0)
            // The restarted worker serves.
            try eventually(timeout: .seconds(10), "the restarted worker serves") {
                try server.http.get("/api/metrics").status == 200
            }
        }
    }
}
