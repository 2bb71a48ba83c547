import Foundation
import Glibc
import LivefeedProtocol
import Testing

/// The record pipe between workers and the supervisor: garbage from a worker gets that worker killed and restarted,
/// never the supervisor; a full pipe never stops a worker serving and never loses a slot; a silent worker is killed
/// at its deadline and its slots freed.
struct RecordPipeTests {
    /// A fake worker (Python): for `serve` with an index in `garbageIndices` it sends one kind of garbage on fd 3,
    /// chosen by how many times that index has started, then sleeps (only the supervisor's SIGKILL ends it);
    /// anything else runs the real worker.
    static func writeFakeWorker(in directory: String, garbageIndices: [Int]) throws -> String {
        let python = try Subprocess.run("/bin/sh", ["-c", "command -v python3"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard !python.isEmpty else { throw SubprocessError(description: "python3 is needed for the fake worker") }
        let interpreter = try Subprocess.run(python, ["-c", "import sys; print(sys.executable)"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let real = try LivefeedBinaries.directory() + "/livefeed-worker"
        func hex(_ record: Record) -> String { RecordCodec.encode(record).map { String(format: "%02x", $0) }.joined() }
        let script = """
            #!\(interpreter)
            import array, os, socket, sys, time
            args = sys.argv[1:]
            index = int(args[args.index('--index') + 1]) if '--index' in args else -1
            if not args or args[0] != 'serve' or index not in \(garbageIndices):
                os.execv('\(real)', ['\(real)'] + args)
            counter = '\(directory)/attempts-%d' % index
            n = int(open(counter).read()) if os.path.exists(counter) else 0
            open(counter, 'w').write(str(n + 1))
            s = socket.socket(fileno=3)
            ready = bytes.fromhex('\(hex(.workerReady(pid: 1)))')
            def header(version, kind, length):
                return bytes([version, kind, 0, 0]) + length.to_bytes(4, 'big')
            variants = [
                lambda: s.send(os.urandom(64)),
                lambda: s.send(header(99, 16, 2) + b'\\0\\0'),
                lambda: s.send(ready) and s.send(header(\(RecordCodec.version), 19, 2) + b'\\0\\0'),
                lambda: s.send(header(\(RecordCodec.version), 19, 0x7fffffff)),
                lambda: s.send(b'x' * 70000),
                lambda: s.sendmsg([ready], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [0]))]),
                lambda: s.send(bytes.fromhex('\(hex(.handoff(connectionID: 1, view: .http, client: "x")))')),
                lambda: s.send(ready) and s.send(ready),
            ]
            variants[(index * 4 + n) % len(variants)]()
            time.sleep(60)

            """
        return try writeExecutableScript(script, named: "garbage-worker", in: directory)
    }

    @Test func workersWritingGarbageRecordsAreKilledAndRestartedAndTheSupervisorServesOn() throws {
        try withLivefeed(
            workers: 3, untilReady: false,
            prepare: { directory in
                ["--worker-path", try Self.writeFakeWorker(in: directory, garbageIndices: [0, 1])]
            }
        ) { server in
            server.isExpectedErrorRecord = { ($0.string("event") ?? "").hasPrefix("worker_") }
            for index in [0, 1] {
                try server.waitForLog("worker \(index) reported crash-looping") {
                    $0.string("event") == "worker_crash_loop" && $0.int("worker") == index
                }
            }
            // Worker 2 is real and serves throughout; the supervisor answers for itself.
            for _ in 0..<5 { #expect(try server.http.get("/api/metrics").status == 200) }

            let violations = server.logLines().filter { $0.string("event") == "worker_protocol_violation" }
            #expect(violations.count >= 8, "\(violations.map(\.jsonText))")
            let reasons = Set(
                violations.compactMap { $0.string("error")?.split(separator: ":").first.map(String.init) })
            for expected in [
                "bad record", "worker sent a descriptor", "worker sent a supervisor command", "ready twice",
            ] {
                #expect(reasons.contains { $0.hasPrefix(expected) }, "no violation '\(expected)' among \(reasons)")
            }
            #expect(reasons.contains { $0.hasPrefix("oversized, truncated or foreign") }, "\(reasons)")
            // Each fake was ended by the supervisor's SIGKILL: none would have exited by itself.
            let exits = server.logLines().filter {
                $0.string("event") == "worker_exited" && [0, 1].contains($0.int("worker") ?? -1)
            }
            #expect(
                exits.count >= 8 && exits.allSatisfy { $0.int("signal") == Int(SIGKILL) }, "\(exits.map(\.jsonText))")

            let health = try server.http.get("/healthz")
            #expect(health.status == 503, "\(health)")
            let looping = try health.jsonObject()["crash_looping"] as? [Any]
            #expect(Set((looping ?? []).compactMap(jsonInt)) == [0, 1], "\(health)")
            let status = try server.http.get("/status")
            #expect(status.text.contains("id=\"crash-loop-0\"") && status.text.contains("id=\"crash-loop-1\""))
            let scrape = try server.scrapeMetrics()
            #expect(scrape.value("livefeed_worker_crash_looping", ["worker": "0"]) == 1)
            #expect(scrape.value("livefeed_worker_crash_looping", ["worker": "2"]) == 0)
            #expect(scrape.value("livefeed_workers_crash_looping") == 2)
            #expect(scrape.count("livefeed_worker_protocol_violations_total", ["worker": "0"]) >= 4)
            #expect(scrape.count("livefeed_worker_restarts_total", ["worker": "1"]) >= 4)
        }
    }

    @Test func workerWhosePipeIsFullKeepsServingAndLosesNoSlot() throws {
        // A worker sends a loop turn's records as one message: a small socket buffer makes 600 close records
        // more than it holds.
        try withLivefeed(
            workers: 1, arguments: ["--max-per-client", "2000"], environment: ["LIVEFEED_CONTROL_SNDBUF": "16384"]
        ) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            defer { stream.close() }
            let poster = try HTTPConnection(port: server.port)
            defer { poster.close() }
            #expect(try poster.get("/api/metrics").status == 200)
            var idle: [HTTPConnection] = []
            defer { idle.forEach { $0.close() } }
            for _ in 0..<600 {
                let c = try HTTPConnection(port: server.port)
                #expect(try c.get("/api/metrics").status == 200)
                idle.append(c)
            }
            try eventually(timeout: .seconds(10), "602 connections held") {
                try server.scrapeMetrics().value("livefeed_connections_open") == 602
            }

            // The supervisor stops reading; 600 closes are more records than the socket holds.
            kill(server.pid, SIGSTOP)
            var stopped = true
            defer { if stopped { kill(server.pid, SIGCONT) } }
            idle.forEach { $0.close() }
            idle = []
            // The worker keeps serving meanwhile: a write on an open connection, delivered live.
            let response = try poster.post(
                "/api/messages", body: Array(#"{"channel":"general","user":"alice","text":"pipe full"}"#.utf8))
            #expect(response.status == 201, "\(response)")
            let id = try #require((try response.jsonObject()["ids"] as? [Any])?.first.flatMap(jsonInt))
            try stream.expectMessages([id])

            kill(server.pid, SIGCONT)
            stopped = false
            let scrape = try eventuallyValue(timeout: .seconds(15), "every close record arrived") {
                () -> MetricsScrape? in
                let scrape = try server.scrapeMetrics()
                return scrape.value("livefeed_connections_open") == 2 ? scrape : nil
            }
            // The peak arrives with the worker's next gauges (once a second).
            try eventually(timeout: .seconds(5), "the worker reports that records had to wait") {
                (try server.scrapeMetrics().value("livefeed_worker_records_queued_peak", ["worker": "0"]) ?? 0) > 0
            }
            #expect(scrape.count("livefeed_records_dropped_total", ["worker": "0"]) == 0)
            #expect(scrape.sum("livefeed_connections_closed_total", matching: ["view": "http"]) >= 600)
            stream.close()
            poster.close()
            try server.waitForGaugesAtZero()
        }
    }

    @Test func silentWorkerIsKilledAtItsDeadlineAndItsSlotsFreed() throws {
        try withLivefeed(workers: 2, arguments: ["--worker-timeout-ms", "2500"]) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let workers = try server.waitForWorkers(2)
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            defer { stream.close() }
            let owner = try eventuallyValue(timeout: .seconds(5), "the worker holding the stream") { () -> pid_t? in
                let holders = ProcessOwnership.holdersOfServerSide(
                    serverPort: server.port, clientPort: stream.client.localPort, among: Array(workers.values))
                return holders.count == 1 ? holders[0] : nil
            }
            server.isExpectedErrorRecord = WorkerLifecycleTests.recordsAbout(owner)
            kill(owner, SIGSTOP)
            defer { kill(owner, SIGCONT) }

            try server.waitForLog("worker_unresponsive for \(owner)", timeout: .seconds(15)) {
                $0.string("event") == "worker_unresponsive" && $0.int("pid") == Int(owner)
            }
            let ending = try stream.awaitEnding(timeout: .seconds(10))
            #expect(ending == .endOfStream || ending == .reset, "\(ending)")
            try server.waitForWorkers(2)
            let scrape = try server.waitForGaugesAtZero()
            let index = try #require(workers.first { $0.value == owner }?.key)
            #expect(scrape.count("livefeed_worker_timeouts_total", ["worker": String(index)]) == 1)
            #expect(
                scrape.count("livefeed_connections_closed_total", ["view": "channel", "reason": "worker_exit"]) == 1)
        }
    }
}
