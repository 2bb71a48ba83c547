import Foundation
import Glibc
import Testing

/// Heads dribbled one byte at a time cost the supervisor time linear in the bytes, not quadratic: under 180 such
/// connections /healthz stays fast, and the supervisor's own lag never makes it judge its workers silent.
/// Each runs with SO_PEEK_OFF (Linux 6.9+) and without it (LIVEFEED_PEEK_OFFSET=0, the path of older kernels).
struct DribbledHeadTests {
    static func environment(peekOffset: Bool) -> [String: String] { ["LIVEFEED_PEEK_OFFSET": peekOffset ? "1" : "0"] }

    @Test(arguments: [true, false])
    func aHeadSentInPiecesIsParsedOnceWhole(peekOffset: Bool) throws {
        let environment = Self.environment(peekOffset: peekOffset)
        try withLivefeed(arguments: ["--max-head-bytes", "1024"], environment: environment) { server in
            /// Sends `pieces` as separate packets (a pause between them) and reads the answer.
            func send(_ pieces: [String]) throws -> HTTPResponse {
                let c = try HTTPConnection(port: server.port)
                defer { c.close() }
                for piece in pieces {
                    try c.sendRaw(Array(piece.utf8))
                    usleep(30_000)
                }
                return try c.readResponse()
            }
            // Split inside the method, the target, and between the CR and LF of the last line.
            let whole = try send(["GE", "T /api/met", "rics HTTP/1.1\r\nHost: 127.0.0.1\r", "\n\r", "\n"])
            #expect(whole.status == 200, "\(whole)")
            let pad = String(repeating: "a", count: 200)
            // Past 1024 bytes only with the last piece: nothing is sent after the answer, which would reset it.
            let large = try send(["GET /api/metrics HTTP/1.1\r\n"] + (0..<5).map { "X-Pad-\($0): \(pad)\r\n" })
            #expect(large.status == 431, "\(large)")
            let bad = try send(["GET /api/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n", "Bad Header: x\r\n\r\n"])
            #expect(bad.status == 400, "\(bad)")
            try server.waitForGaugesAtZero()
        }
    }

    @Test(arguments: [true, false])
    func oneBytePerMillisecondFrom180ConnectionsKeepsHealthzFastAndNoWorkerIsKilled(peekOffset: Bool) throws {
        // A short worker timeout: a supervisor that lags behind its workers' gauges (sent every second) kills them.
        let arguments = ["--worker-timeout-ms", "1500", "--head-timeout-ms", "20000"]
        let environment = Self.environment(peekOffset: peekOffset)
        try withLivefeed(workers: 2, arguments: arguments, environment: environment) { server in
            let workers = try server.waitForWorkers(2)
            let port = server.port
            let ready = Locked(false)
            let dribblers = BackgroundWork<Int>("dribblers") { shouldStop in
                // 3 addresses × 60 connections, each sending the start of a head, then one byte per millisecond.
                var sockets: [TCPSocket] = []
                defer { sockets.forEach { $0.close() } }
                for i in 0..<180 {
                    let socket = try TCPSocket(connectingToPort: port, from: "127.0.0.\(2 + i / 60)")
                    try socket.send(Array("GET /api/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ".utf8))
                    sockets.append(socket)
                }
                ready.withValue { $0 = true }
                var sent = 0
                let until = ContinuousClock.now + .seconds(6)
                // Bounded: at most 6 s and 6,000 bytes per connection (under --max-head-bytes).
                for _ in 0..<6000 where !shouldStop() && ContinuousClock.now < until {
                    for s in sockets {
                        try s.send([UInt8(ascii: "a")])
                        sent += 1
                    }
                    usleep(1000)
                }
                return sent
            }
            defer { dribblers.stopAndWait() }
            try eventually(timeout: .seconds(10), "the dribbling connections open") {
                ready.withValue { $0 } || dribblers.isFinished
            }

            let ticksBefore = ProcessResources.cpuTicks(server.pid) ?? 0
            var slowest = Duration.zero
            var failures: [String] = []
            let started = ContinuousClock.now
            while ContinuousClock.now - started < .seconds(5) && !dribblers.isFinished {
                let begin = ContinuousClock.now
                do {
                    let response = try HTTPConnection(port: port).get("/healthz", closeAfter: true)
                    if response.status != 200 { failures.append("\(response.status)") }
                } catch {
                    failures.append("\(error)")
                }
                slowest = max(slowest, ContinuousClock.now - begin)
                usleep(100_000)
            }
            dribblers.stop()
            let sent = try dribblers.join()
            let ticks = (ProcessResources.cpuTicks(server.pid) ?? 0) - ticksBefore

            // The supervisor's CPU per byte dribbled (clock ticks of 10 ms per 100,000 bytes): about 20 when each
            // wakeup peeks at new bytes only, about 80 when it peeks again at the whole head so far.
            let perHundredThousand = Double(ticks) * 100_000 / Double(max(sent, 1))
            if peekOffset && Self.kernelPeeksFromOffset() {
                #expect(perHundredThousand < 45, "\(ticks) ticks of supervisor CPU for \(sent) bytes")
            }
            #expect(sent >= 180 * 500, "only \(sent) bytes dribbled: the load did not happen")
            #expect(failures.isEmpty, "\(failures.prefix(5))")
            #expect(slowest < .seconds(1), "slowest /healthz took \(slowest)")
            #expect(!server.logLines().contains { $0.string("event") == "worker_unresponsive" })
            #expect(server.workerPIDs() == workers, "a worker was replaced")
            let scrape = try server.waitForGaugesAtZero()
            #expect(scrape.sum("livefeed_worker_timeouts_total") == 0)
        }
    }

    /// Whether this kernel supports SO_PEEK_OFF on TCP sockets (Linux 6.9 and later); older ones still parse
    /// each byte once, but the kernel copies the whole head again on every peek.
    static func kernelPeeksFromOffset() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var zero: Int32 = 0
        return setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    @Test func aStalledSupervisorDoesNotCountItsOwnStallAsItsWorkersSilence() throws {
        try withLivefeed(workers: 1, arguments: ["--worker-timeout-ms", "2500"]) { server in
            let workers = try server.waitForWorkers(1)
            let worker = try #require(workers.values.first)
            // Both stop, longer than the worker timeout; the supervisor runs again first, so when it next looks
            // the worker has sent nothing for 4 s, all of it time the supervisor was not listening either.
            kill(worker, SIGSTOP)
            kill(server.pid, SIGSTOP)
            var stopped = true
            defer {
                if stopped {
                    kill(server.pid, SIGCONT)
                    kill(worker, SIGCONT)
                }
            }
            usleep(4_000_000)
            kill(server.pid, SIGCONT)
            usleep(100_000)
            kill(worker, SIGCONT)
            stopped = false

            try eventually(timeout: .seconds(10), "the stall counted") {
                try server.scrapeMetrics().count("livefeed_supervisor_stall_milliseconds_total") >= 3000
            }
            // The worker's gauges (every second) arrive well within the worker timeout measured after the stall.
            let heardAgain = ContinuousClock.now
            try eventually(timeout: .seconds(10), "the worker timeout passed since the stall") {
                ContinuousClock.now - heardAgain > .milliseconds(3000)
            }
            #expect(try server.http.get("/api/metrics").status == 200)
            #expect(!server.logLines().contains { $0.string("event") == "worker_unresponsive" })
            #expect(server.workerPIDs() == workers, "the worker was replaced")
        }
    }
}
