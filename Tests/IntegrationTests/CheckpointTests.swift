import Foundation
import Testing

/// The WAL is copied back into the database file by the checkpointer process (`livefeed-worker checkpointer`,
/// `WALCheckpointer`), not by the commit of whichever POST takes it past SQLite's 1,000 pages. One message is a few
/// pages, far below that: only the checkpointer puts it into the database file while the workers keep their
/// connections open.
struct CheckpointTests {
    @Test func aPostedMessageReachesTheDatabaseFileWithoutAThousandPagesOfWAL() throws {
        try withLivefeed(workers: 2) { server in
            try expectInDatabaseFile(server, "copied back by the checkpointer")
        }
    }

    /// The checkpointer is a process of its own, not a thread of a worker: every worker has exactly one thread.
    @Test func theCheckpointerIsAProcessOfItsOwnAndEveryWorkerHasOneThread() throws {
        try withLivefeed(workers: 2) { server in
            let workers = try server.waitForWorkers(2)
            let started = try server.waitForLog("checkpointer_started") { $0.string("event") == "checkpointer_started" }
            let pid = try #require(started.int("pid").map(pid_t.init))
            #expect(Subprocess.isAlive(pid))
            let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            #expect(command.contains("checkpointer"), "pid \(pid) runs \(command)")
            for (index, worker) in workers {
                let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker)/task")
                #expect(tasks.count == 1, "worker \(index) runs \(tasks.count) threads")
            }
            server.stop()
            try eventually(timeout: .seconds(10), "the checkpointer exits with the server") { !Subprocess.isAlive(pid) }
        }
    }

    @Test func aKilledCheckpointerIsLoggedAndStartedAgain() throws {
        try withLivefeed(workers: 1) { server in
            let first = try server.waitForLog("checkpointer_started") { $0.string("event") == "checkpointer_started" }
            let victim = try #require(first.int("pid").map(pid_t.init))
            kill(victim, SIGKILL)
            let exited = try server.waitForLog("checkpointer_exited for pid \(victim)") {
                $0.string("event") == "checkpointer_exited" && $0.int("pid") == Int(victim)
            }
            #expect(exited.string("level") == "warning")
            #expect((exited.string("status") ?? "").contains("signal 9"), "status: \(exited.string("status") ?? "none")")
            let again = try server.waitForLog("a second checkpointer_started") {
                $0.string("event") == "checkpointer_started" && $0.int("pid") != Int(victim)
            }
            #expect(again.int("pid").map { Subprocess.isAlive(pid_t($0)) } == true)
            try expectInDatabaseFile(server, "copied back by the restarted checkpointer")
        }
    }

    private func expectInDatabaseFile(_ server: ServerProcess, _ text: String) throws {
        let id = try LivefeedAPI(server).post(text: text)
        let copy = NSTemporaryDirectory() + "livefeed-checkpoint-\(UUID().uuidString).db"
        defer { for suffix in ["", "-wal", "-shm"] { unlink(copy + suffix) } }
        // The database file alone (no -wal): what it holds has been checkpointed. A copy taken while a checkpoint
        // writes may be torn; that counts as "not yet".
        try eventually(timeout: .seconds(20), pollingEvery: .milliseconds(100), "message \(id) in the database file") {
            for suffix in ["", "-wal", "-shm"] { unlink(copy + suffix) }
            try FileManager.default.copyItem(atPath: server.databasePath, toPath: copy)
            let out = try SQLiteWriter(databasePath: copy).execute("SELECT count(*) FROM messages WHERE id = \(id);")
            return out.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        }
    }
}
