import Foundation
import Glibc
import Testing

/// Signals an operator can send to every process of the unit (`systemctl kill -s HUP livefeed`) or to one worker:
/// HUP, USR1 and USR2 leave workers serving; TERM drains the worker (1012 with a status, never a bare EOF) and
/// the supervisor replaces it.
struct WorkerSignalTests {
    @Test func hupUsr1AndUsr2SentToWorkersLeaveEveryLiveClientConnected() throws {
        try withLivefeed(workers: 2) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channelID = try api.channelID(named: "general")
            let workers = try server.waitForWorkers(2)
            var streams: [LiveStream] = []
            defer { streams.forEach { $0.close() } }
            for _ in 0..<6 {
                streams.append(try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)"))
            }
            for signal in [SIGHUP, SIGUSR1, SIGUSR2] {
                for pid in workers.values { kill(pid, signal) }
            }
            let next = try api.post(text: "after the signals")
            for stream in streams { try stream.expectMessages([next]) }
            #expect(try server.waitForWorkers(2) == workers, "no worker was replaced")
            #expect(!server.logLines().contains { $0.string("event") == "worker_exited" }, "\(server.stderrTail())")
        }
    }

    /// SIGUSR1 means nothing to the supervisor: its default action ended it outright (no drain, no record, live
    /// clients cut without a close frame) when a unit-wide `systemctl kill -s USR1` reached it.
    @Test func usr1SentToTheSupervisorChangesNothing() throws {
        try withLivefeed(workers: 1) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "before")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(try api.channelID(named: "general"))?after_id=\(first)")
            defer { stream.close() }
            kill(server.pid, SIGUSR1)
            let next = try api.post(text: "after SIGUSR1")
            try stream.expectMessages([next])
            #expect(kill(server.pid, 0) == 0, "the supervisor is still running")
            #expect(try server.http.get("/healthz").status == 200)
        }
    }

    /// `livefeed reload|upgrade|stop PID` given a worker's pid (which `pgrep livefeed` lists beside the supervisor's)
    /// did nothing and said 0, or replaced only that worker: now it says whose pid that is and exits 1.
    @Test func commandsGivenAWorkersPIDSaySoAndLeaveItAlone() throws {
        try withLivefeed(workers: 1) { server in
            let workers = try server.waitForWorkers(1)
            let worker = try #require(workers.values.first)
            let livefeed = try LivefeedBinaries.directory() + "/livefeed"
            for command in ["reload", "upgrade", "stop"] {
                let result = try Subprocess.run(livefeed, [command, String(worker)])
                #expect(result.status == .exited(1), "\(command): \(result.status) \(result.stderr)")
                #expect(result.stderr.contains("not the supervisor"), "\(command): \(result.stderr)")
            }
            #expect(kill(worker, 0) == 0, "the worker is untouched")
            #expect(try server.waitForWorkers(1) == workers, "and not replaced")
            #expect(try server.http.get("/healthz").status == 200)
        }
    }

    @Test func termSentToAWorkerDrainsItsClientsWith1012AndItIsReplaced() throws {
        try withLivefeed(workers: 2) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channelID = try api.channelID(named: "general")
            let workers = try server.waitForWorkers(2)
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)")
            defer { stream.close() }
            let owner = try server.worker(holding: stream, among: workers)
            server.isExpectedErrorRecord = WorkerLifecycleTests.recordsAbout(owner)
            kill(owner, SIGTERM)
            let status = try stream.next("a status before the close") { $0.string("type") == "status" }
            #expect(status.object("data")?.int("retry_after_ms") != nil, "\(status.jsonText)")
            #expect(closeCode(try stream.awaitEnding()) == 1012)
            let before = Set(workers.values.map(Int.init))
            try server.waitForLog("a new worker in place of \(owner)") {
                $0.string("event") == "worker_started" && !before.contains($0.int("pid") ?? 0)
            }
            try server.waitForLog("worker_signalled") { $0.string("event") == "worker_signalled" }
        }
    }
}
