import CSQLite
import Foundation
import Glibc

/// Copies the WAL back into the database file on a thread of its own, so no request or fan-out waits for it.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages: that commit (a POST's,
/// at ~10 pages per message once every ~100 messages) then also writes those pages into the database file and
/// syncs it, time in which its worker answers nobody and fans nothing out (up to ~2 ms on the development
/// machine's storage, more where a sync is slower). Here one worker (index 0) runs a passive checkpoint every
/// `intervalMilliseconds` on a connection of this thread's own, and every worker's connection checkpoints by itself
/// only past `Worker.checkpointFallbackPages`, in case this thread cannot (its worker restarting, the file
/// unreadable for a moment).
///
/// Passive: it copies what no reader still needs and never blocks a reader or a writer; the next writer then
/// starts the WAL from the beginning again. It opens the file without creating it, and opens it again when the
/// file under the path is another one (a restored backup), so it never checkpoints a file nobody serves.
enum WALCheckpointer {
    static let intervalMilliseconds: UInt32 = 200

    /// Starts the thread; it lives as long as the process.
    static func start(path: String) {
        Thread.detachNewThread {
            var connection: (db: SQLiteDatabase, inode: ino_t)?
            while true {
                usleep(intervalMilliseconds * 1000)
                var st = stat()
                guard stat(path, &st) == 0 else {
                    connection = nil
                    continue
                }
                if connection?.inode != st.st_ino {
                    connection = nil
                    guard let db = try? SQLiteDatabase(path: path, create: false) else { continue }
                    // Its own connection never checkpoints automatically (it writes nothing anyway). A connection
                    // opens the file lazily, and a checkpoint on one that has not read it yet does nothing: read the
                    // schema first, which opens the WAL.
                    try? db.execute("PRAGMA wal_autocheckpoint = 0")
                    guard (try? db.execute("SELECT count(*) FROM sqlite_schema")) != nil else { continue }
                    connection = (db, st.st_ino)
                }
                guard let db = connection?.db else { continue }
                let rc = sqlite3_wal_checkpoint_v2(db.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                // BUSY: another checkpoint runs (a worker's fallback); anything else: open afresh next time.
                if rc != SQLITE_OK && rc != SQLITE_BUSY { connection = nil }
            }
        }
    }
}
