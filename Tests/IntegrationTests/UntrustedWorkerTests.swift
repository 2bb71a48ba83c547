import Foundation
import Glibc
import LivefeedProtocol
import Testing

/// A worker is another process: what it reports is checked, and what it cannot serve is given back at once.
struct UntrustedWorkerTests {
    /// A handoff whose descriptor the worker could not receive (its descriptor table full: MSG_CTRUNC) is reported
    /// closed at once, so no slot stays held after every client leaves.
    @Test func handoffsWithoutTheirDescriptorFreeTheirSlots() throws {
        try withLivefeed(
            workers: 1, arguments: ["--max-per-client", "1000"],
            prepare: { directory in
                let real = try LivefeedBinaries.directory() + "/livefeed-worker"
                let script = "#!/bin/sh\n[ \"$1\" = serve ] && exec /usr/bin/prlimit --nofile=48:48 '\(real)' \"$@\"\nexec '\(real)' \"$@\"\n"
                return ["--worker-path", try writeExecutableScript(script, named: "tight-worker", in: directory)]
            }
        ) { server in
            server.isExpectedErrorRecord = { $0.string("event") == "handoff_without_descriptor" }
            var clients: [HTTPConnection] = []
            for _ in 0..<90 {
                let c = try HTTPConnection(port: server.port)
                try c.send("GET", "/api/metrics")
                clients.append(c)
            }
            try server.waitForLog("a handoff without its descriptor") {
                $0.string("event") == "handoff_without_descriptor"
            }
            clients.forEach { $0.close() }
            try eventually(timeout: .seconds(15), "every slot is free again") {
                try server.prometheusSamples()["livefeed_connections_open"] == 0
            }
            #expect(try server.http.get("/healthz").status == 200)
            #expect(try server.http.get("/api/metrics").status == 200, "the address is not stuck at its cap")
        }
    }

    /// A worker reporting absurd numbers is killed and logged; the supervisor never traps on them.
    @Test func absurdGaugesGetTheWorkerKilledNotTheSupervisor() throws {
        let big = Int64.max
        try withLivefeed(
            workers: 1, untilReady: false,
            prepare: { directory in
                let gauges = Self.hex(.workerGauges(WorkerGauges(queuedBytes: big, recordsDropped: big)))
                let script = try Self.fakeWorker(in: directory, then: "s.send(bytes.fromhex('\(gauges)'))")
                return ["--worker-path", try writeExecutableScript(script, named: "lying-worker", in: directory)]
            }
        ) { server in
            server.isExpectedErrorRecord = { ($0.string("event") ?? "").hasPrefix("worker_") }
            let violation = try server.waitForLog("the lying worker is caught") {
                $0.string("event") == "worker_protocol_violation"
            }
            #expect((violation.string("error") ?? "").contains("implausible gauges"), "\(violation.jsonText)")
            try eventually(timeout: .seconds(15), "a real worker serves after it") {
                try server.http.get("/healthz").status == 200
            }
            #expect(try server.http.get("/status").status == 200)
            #expect(try server.http.get("/metrics").status == 200)
        }
    }

    /// The one record that may carry a descriptor (a live connection moving on a reload) is checked like the rest:
    /// a worker that is not draining, moving a connection it does not hold, is killed; the supervisor goes on.
    @Test func aWorkerMovingAConnectionItDoesNotHoldIsKilled() throws {
        try withLivefeed(
            workers: 1, untilReady: false,
            prepare: { directory in
                let moved = Self.hex(.liveMoved(LiveHandover(
                    connectionID: 77, view: .channel, path: "/live/channels/1", format: "json", cursor: 5, epoch: "e",
                    silentMilliseconds: 0, pingAgeMilliseconds: -1, ageMilliseconds: 10, framesSent: 1, bytesSent: 10,
                    framesDropped: 0)))
                let script = try Self.fakeWorker(
                    in: directory,
                    then: """
                        a, b = socket.socketpair()
                        socket.send_fds(s, [bytes.fromhex('\(moved)')], [a.fileno()])
                        """)
                return ["--worker-path", try writeExecutableScript(script, named: "moving-worker", in: directory)]
            }
        ) { server in
            server.isExpectedErrorRecord = { ($0.string("event") ?? "").hasPrefix("worker_") }
            let violation = try server.waitForLog("the moving worker is caught") {
                $0.string("event") == "worker_protocol_violation"
            }
            #expect((violation.string("error") ?? "").contains("may not move"), "\(violation.jsonText)")
            try eventually(timeout: .seconds(15), "a real worker serves after it") {
                try server.http.get("/healthz").status == 200
            }
            #expect(try server.scrapeMetrics().value("livefeed_connections_moved_total") == 0)
        }
    }

    static func hex(_ r: Record) -> String { RecordCodec.encode(r).map { String(format: "%02x", $0) }.joined() }

    /// A python worker that, when it is the first `serve` (the supervisor's database preparation runs the worker
    /// once before), says it is ready, runs `then` (python, with the control socket as `s`) and sleeps; every other
    /// start runs the real worker.
    static func fakeWorker(in directory: String, then body: String) throws -> String {
        let interpreter = try Subprocess.run("/bin/sh", ["-c", "command -v python3"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let real = try LivefeedBinaries.directory() + "/livefeed-worker"
        return """
            #!\(interpreter)
            import os, socket, sys, time
            args = sys.argv[1:]
            if not args or args[0] != 'serve':
                os.execv('\(real)', ['\(real)'] + args)
            # The first worker started is the fake one; its restarts are real.
            counter = '\(directory)/starts'
            n = int(open(counter).read()) if os.path.exists(counter) else 0
            open(counter, 'w').write(str(n + 1))
            if n > 0:
                os.execv('\(real)', ['\(real)'] + args)
            s = socket.socket(fileno=3)
            s.send(bytes.fromhex('\(hex(.workerReady(pid: 1)))'))
            \(body)
            time.sleep(60)

            """
    }
}

/// /status lists client addresses of refused and dropped connections only on the private metrics socket.
struct StatusPrivacyTests {
    static func provokeRefusal(_ server: ServerProcess) throws {
        // A head too large for --max-head-bytes: refused at the door (431), remembered for /status.
        let huge = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \(String(repeating: "a", count: 9000))\r\n\r\n"
        _ = try? server.http.sendRaw(Array(huge.utf8))
    }

    @Test func thePublicStatusPageShowsCountsButNoAddresses() throws {
        try withLivefeed(workers: 1) { server in
            try Self.provokeRefusal(server)
            let page = try server.http.get("/status").text
            #expect(page.contains("head_too_large"), "the refusal is counted")
            let withoutOwnAddress = page.replacingOccurrences(of: "127.0.0.1:\(server.port)", with: "")
            #expect(!withoutOwnAddress.contains("127.0.0.1:"), "no client address on the public socket")
        }
    }

    @Test func theMetricsSocketShowsAddresses() throws {
        try withLivefeed(workers: 1, arguments: ["--metrics-listen", "127.0.0.1:0"]) { server in
            let listening = try server.waitForLog("listening") { $0.string("event") == "listening" }
            let address = try #require(listening.string("metrics_address"), "\(listening.jsonText)")
            let metrics = HTTPClient(port: try #require(UInt16(address.split(separator: ":").last ?? "")))
            try Self.provokeRefusal(server)
            let page = try metrics.get("/status").text
            #expect(page.contains("head_too_large"))
            let withoutOwnAddress = page.replacingOccurrences(of: "127.0.0.1:\(server.port)", with: "")
            #expect(withoutOwnAddress.contains("127.0.0.1:"), "the private page names the client")
        }
    }

}
