import Foundation
import Glibc
import Testing

/// A worker that dies loses only its connections: the supervisor restarts it, new requests keep working, and its
/// live clients resume by cursor with nothing lost and nothing duplicated.
struct WorkerLifecycleTests {
    @Test func killedWorkerIsReplacedAndNewConnectionsKeepWorking() throws {
        try withLivefeed(workers: 2) { server in
            let workers = try server.waitForWorkers(2)
            let (index, victim) = try #require(workers.min { $0.key < $1.key })
            server.isExpectedErrorRecord = Self.recordsAbout(victim)

            kill(victim, SIGKILL)
            try server.waitForLog("worker_exited for pid \(victim)") {
                $0.string("event") == "worker_exited" && $0.int("pid") == Int(victim)
            }
            let restarted = try server.waitForLog("worker_started for worker \(index) with a new pid") {
                $0.string("event") == "worker_started" && $0.int("worker") == index && $0.int("pid") != Int(victim)
            }
            let replacement = try #require(restarted.int("pid").map(pid_t.init))
            #expect(Subprocess.isAlive(replacement))
            #expect(try server.waitForWorkers(2)[index] == replacement)

            let api = LivefeedAPI(server)
            for attempt in 1...10 {
                let response = try server.http.get("/api/metrics")
                #expect(response.status == 200, "request \(attempt) after the restart: \(response)")
            }
            try api.post(text: "written after the restart")
            #expect(try api.metrics().int("messages") == 1)
        }
    }

    @Test func liveClientOfAKilledWorkerResumesByCursorWithNothingLostOrDuplicated() throws {
        try withLivefeed(workers: 2) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channelID = try api.channelID(named: "general")
            let workers = try server.waitForWorkers(2)
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)")
            defer { stream.close() }
            try stream.expectMessages([try api.post(text: "seen before the crash")])
            let lastCursor = try #require(stream.lastCursor)

            let owner = try server.worker(holding: stream, among: workers)
            server.isExpectedErrorRecord = Self.recordsAbout(owner)
            kill(owner, SIGKILL)

            // A dead process sends no close frame: the kernel ends the stream.
            let ending = try stream.awaitEnding(timeout: .seconds(10))
            #expect(ending == .endOfStream || ending == .reset, "ending: \(ending)")
            try server.waitForLog("worker_exited for pid \(owner)") {
                $0.string("event") == "worker_exited" && $0.int("pid") == Int(owner)
            }

            let meanwhile = try (1...3).map { try api.post(text: "posted while disconnected \($0)") }
            let resumed = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(lastCursor)")
            defer { resumed.close() }
            try resumed.expectMessages(meanwhile)
            try resumed.expectMessages([try api.post(text: "sentinel")])
        }
    }

    /// Error-level records a deliberate SIGKILL of `pid` may cause: those naming the pid and worker lifecycle events.
    static func recordsAbout(_ pid: pid_t) -> ([String: Any]) -> Bool {
        { record in
            record.int("pid") == Int(pid) || (record.string("event") ?? "").hasPrefix("worker_")
        }
    }
}
