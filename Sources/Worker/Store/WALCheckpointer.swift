import CSQLite
import Glibc
import LivefeedProtocol

/// Copies the WAL back into the database file in a process of its own (`livefeed-worker checkpointer`, started and
/// restarted by the supervisor), so no request or fan-out waits for it and every worker stays single-threaded.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages: that commit (a POST's,
/// at ~10 pages per message once every ~100 messages) then also writes those pages into the database file and
/// syncs it, time in which its worker answers nobody and fans nothing out (up to ~2 ms on the development
/// machine's storage, more where a sync is slower). Here a passive checkpoint runs every `intervalMilliseconds` on
/// this process's own connection, and every worker's connection checkpoints by itself only past
/// `Worker.checkpointFallbackPages`, in case this process cannot (restarting, the file unreadable for a moment).
///
/// A process, not a thread of a worker: every worker stays one thread, a checkpoint stuck on slow storage holds a
/// process that serves nobody, and a worker's crash does not stop checkpoints. (Moving it out of worker 0 was
/// expected to save the kernel's file-reference work per `send`; measured, it changed nothing beyond the noise:
/// docs/performance.md, fourteenth session.)
///
/// Passive: it copies what no reader still needs and never blocks a reader or a writer; the next writer then
/// starts the WAL from the beginning again. It opens the file without creating it, and opens it again when the
/// file under the path is another one (a restored backup), so it never checkpoints a file nobody serves.
enum WALCheckpointer {
    static let intervalMilliseconds: Int32 = 200

    /// Checkpoints until `control` (the supervisor's end of the socket on fd 3) closes or has anything to say.
    static func run(path: String, control: FileDescriptor) {
        var connection: (db: SQLiteDatabase, inode: ino_t)?
        var pfd = pollfd(fd: control.rawValue, events: Int16(POLLIN), revents: 0)
        // The first pass at once, not an interval later: the connection is open (and the process at the size it
        // keeps) by the time the workers serve.
        var wait: Int32 = 0
        while true {
            let rc = Glibc.poll(&pfd, 1, wait)
            wait = intervalMilliseconds
            if rc > 0 || (rc < 0 && errno != EINTR) { return }  // the supervisor closed its end, or is gone
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
            let result = sqlite3_wal_checkpoint_v2(db.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            // BUSY: another checkpoint runs (a worker's fallback); anything else: open afresh next time.
            if result != SQLITE_OK && result != SQLITE_BUSY { connection = nil }
        }
    }
}
