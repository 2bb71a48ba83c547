import Foundation
import Glibc
import Testing

/// What an operator sees when workers cannot run or die: the worker's own words at error level, exit 127 named for
/// what it is, every record a worker sent before it exited, and no false protocol violation for a killed worker.
struct WorkerFailureTests {
    static let loaderError =
        "livefeed-worker: error while loading shared libraries: libsqlite3.so.0: cannot open shared object file"

    /// A worker binary that, like one whose library is missing, says so on stderr and exits 127 for `modes`, and
    /// runs the real worker otherwise.
    static func brokenWorker(in directory: String, failing modes: [String]) throws -> String {
        let real = try LivefeedBinaries.directory() + "/livefeed-worker"
        let cases = modes.map { "\($0)) echo '\(loaderError)' >&2; exit 127 ;;" }.joined(separator: "\n")
        let script = "#!/bin/sh\ncase \"$1\" in\n\(cases)\nesac\nexec '\(real)' \"$@\"\n"
        return try writeExecutableScript(script, named: "broken-worker", in: directory)
    }

    @Test func aWorkerThatCannotLoadItsLibrariesIsAnErrorWithTheLoadersWords() throws {
        try withLivefeed(
            workers: 1, untilReady: false,
            prepare: { directory in ["--worker-path", try Self.brokenWorker(in: directory, failing: ["serve"])] }
        ) { server in
            server.isExpectedErrorRecord = { ($0.string("event") ?? "").hasPrefix("worker_") }
            let exited = try server.waitForLog("worker_exited with exec_failed") {
                $0.string("event") == "worker_exited" && $0.string("reason") == "exec_failed"
            }
            #expect(exited.string("level") == "error", "\(exited.jsonText)")
            #expect(exited.string("stderr") == Self.loaderError, "\(exited.jsonText)")
            #expect(exited.string("status")?.contains("missing shared library") == true, "\(exited.jsonText)")
            let said = server.logLines().first { $0.string("event") == "worker_stderr" }
            #expect(said?.string("level") == "error")
            #expect(said?.string("stderr") == Self.loaderError)
        }
    }

    @Test func aDatabaseThatCannotBePreparedSaysWhy() throws {
        let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-broken-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let worker = try Self.brokenWorker(in: directory, failing: ["prepare-db"])
        let run = try Subprocess.run(
            "\(try LivefeedBinaries.directory())/livefeed",
            ["--listen", "127.0.0.1:0", "--db", "\(directory)/x.db", "--worker-path", worker, "--log-target", "stderr"])
        #expect(run.status == .exited(1), "\(run.stderr)")
        let record = run.stderr.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.first { $0.string("event") == "prepare_db_failed" }
        #expect(record?.string("level") == "error", "\(run.stderr)")
        #expect(record?.string("error") == Self.loaderError, "\(run.stderr)")
        #expect(record?.string("reason") == "exec_failed", "\(run.stderr)")
    }

    /// The records a worker sends just before it exits (its clients' connection_closed) reach the log every time.
    @Test func everyStopLogsTheCloseOfItsLiveClient() throws {
        for round in 0..<8 {
            var connection: UInt16 = 0
            let server = try ServerProcess.start(workers: 1, arguments: [], environment: [:], untilReady: true,
                launch: ServerProcess.Launch(), prepare: { _ in [] })
            do {
                let stream = try LiveStream.open(port: server.port, path: "/live/metrics")
                _ = try stream.nextEnvelope()
                connection = stream.client.localPort
                #expect(server.stop() == .exited(0))
                let closed = server.connectionClosedRecords(clientPort: connection)
                #expect(closed.count == 1, "round \(round): connection_closed records \(closed.count)\n\(server.stderrTail())")
                let exited = server.logLines().first { $0.string("event") == "worker_exited" }
                #expect(exited?.int("connections_lost") == 0, "round \(round): \(exited?.jsonText ?? "no worker_exited")")
                stream.close()
            }
            server.tearDown()
        }
    }

    @Test func aKilledWorkerIsAnExitNotAProtocolViolation() throws {
        try withLivefeed(workers: 2) { server in
            for _ in 0..<3 {
                let workers = try server.waitForWorkers(2)
                let victim = try #require(workers.values.first)
                server.isExpectedErrorRecord = WorkerLifecycleTests.recordsAbout(victim)
                // Connections handed to it that it has not read yet leave unread records in its socket.
                kill(victim, SIGSTOP)
                var clients: [HTTPConnection] = []
                for _ in 0..<20 { clients.append(try HTTPConnection(port: server.port)) }
                for c in clients { try? c.send("GET", "/api/metrics", headers: [], body: nil, closeAfter: true) }
                kill(victim, SIGKILL)
                try server.waitForLog("worker_exited for \(victim)") {
                    $0.string("event") == "worker_exited" && $0.int("pid") == Int(victim)
                }
                clients.forEach { $0.close() }
            }
            #expect(!server.logLines().contains { $0.string("event") == "worker_protocol_violation" })
            let samples = try server.prometheusSamples()
            #expect(samples.filter { $0.key.hasPrefix("livefeed_worker_protocol_violations_total") && $0.value > 0 }.isEmpty)
        }
    }
}

struct ReloadCrashTests {
    /// An old-generation worker that dies during a reload is not restarted only to be retired moments later.
    @Test func anOldWorkerThatDiesDuringAReloadIsNotRestarted() throws {
        try withLivefeed(
            workers: 2,
            prepare: { directory in
                // New workers wait while `slow` exists, so the reload stays open long enough to kill an old one.
                let real = try LivefeedBinaries.directory() + "/livefeed-worker"
                let script = """
                    #!/bin/sh
                    if [ "$1" = serve ]; then
                      n=0; while [ -e '\(directory)/slow' ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done
                    fi
                    exec '\(real)' "$@"

                    """
                return ["--worker-path", try writeExecutableScript(script, named: "slow-worker", in: directory)]
            }
        ) { server in
            let old = try server.waitForWorkers(2)
            let victim = try #require(old[0])
            server.isExpectedErrorRecord = WorkerLifecycleTests.recordsAbout(victim)
            try #require(
                FileManager.default.createFile(atPath: "\(server.directory)/slow", contents: Data()),
                "the marker that makes the new workers slow to start")
            server.send(SIGHUP)
            try server.waitForLog("reload_started") { $0.string("event") == "reload_started" }
            kill(victim, SIGKILL)
            try server.waitForLog("worker_exited of \(victim)") {
                $0.string("event") == "worker_exited" && $0.int("pid") == Int(victim)
            }
            try FileManager.default.removeItem(atPath: "\(server.directory)/slow")
            try server.waitForLog("reload_complete") { $0.string("event") == "reload_complete" }
            let restartsOfOld = server.logLines().filter {
                $0.string("event") == "worker_started" && $0.int("generation") == 1
            }
            #expect(restartsOfOld.count == 2, "generation 1 started twice (at start), never again: \(restartsOfOld.map(\.jsonText))")
        }
    }
}

struct ConfigurationErrorTests {
    @Test func aBadFlagIsOneLineAndExitStatus2() throws {
        let livefeed = "\(try LivefeedBinaries.directory())/livefeed"
        for arguments in [["--workers", "zero"], ["--bogus"], ["--access-token-file", "/nonexistent/token"]] {
            let run = try Subprocess.run(livefeed, arguments)
            #expect(run.status == .exited(2), "\(arguments): \(run.stderr)")
            let lines = run.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("livefeed: "), "\(arguments): \(run.stderr)")
        }
    }
}
