import Foundation
import Testing

/// The WAL is copied back into the database file by the checkpointer thread (`WALCheckpointer`), not by the commit
/// of whichever POST takes it past SQLite's 1,000 pages. One message is a few pages, far below that: only the
/// thread puts it into the database file while the workers keep their connections open.
struct CheckpointTests {
    @Test func aPostedMessageReachesTheDatabaseFileWithoutAThousandPagesOfWAL() throws {
        try withLivefeed(workers: 2) { server in
            let api = LivefeedAPI(server)
            let id = try api.post(text: "copied back by the checkpointer")
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
}
