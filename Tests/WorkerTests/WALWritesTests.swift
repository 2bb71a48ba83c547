import CWALWrites
import Foundation
import Testing

@testable import Worker

/// The WAL-writing VFS (Sources/CWALWrites): a commit's frames reach the file in one write, before the sync and
/// before any other connection can be told of them, whatever the `synchronous` setting; more than the buffer holds
/// is written as it fills.
@Suite struct WALWritesTests {
    /// A fresh WAL database: `writer` through the VFS (with `synchronous`), `reader` through the default VFS.
    private static func withDatabases(
        synchronous: String, _ body: (_ writer: SQLiteDatabase, _ reader: SQLiteDatabase) throws -> Void
    ) throws {
        let path = NSTemporaryDirectory() + "livefeed-walwrites-\(UUID().uuidString).db"
        defer { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } }
        let writer = try SQLiteDatabase(path: path, vfs: try MessageStore.writerVFS())
        try writer.execute(
            """
            PRAGMA journal_mode = WAL; PRAGMA synchronous = \(synchronous);
            CREATE TABLE t(x INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
            CREATE INDEX t_by_body ON t(body);
            """)
        try body(writer, try SQLiteDatabase(path: path))
    }

    private static func counts(_ db: SQLiteDatabase) -> (writes: Int64, frameWrites: Int64) {
        var writes: Int64 = 0
        var frameWrites: Int64 = 0
        #expect(livefeed_wal_vfs_counts(db.handle, &writes, &frameWrites) == 1, "the WAL is open, through the VFS")
        return (writes, frameWrites)
    }

    private static func insert(_ db: SQLiteDatabase, _ x: Int, bodyBytes: Int = 40) throws {
        try db.prepare("INSERT INTO t VALUES (?1, ?2, ?3)")
            .bind([.int(Int64(x)), .text("name-\(x)"), .text(String(repeating: "b", count: bodyBytes) + "\(x)")]).run()
    }

    private static func rows(_ db: SQLiteDatabase) throws -> [Int64] {
        try db.prepare("SELECT x FROM t ORDER BY x").rows { $0.int(0) }
    }

    @Test func eachCommitsFramesAreOneWrite() throws {
        try Self.withDatabases(synchronous: "FULL") { writer, reader in
            let before = Self.counts(writer)
            for x in 1...20 { try writer.transaction { try Self.insert(writer, x) } }
            let after = Self.counts(writer)
            // Each commit writes three pages (the table and its two indexes), a header and a page each.
            #expect(after.writes - before.writes == 20)
            #expect(after.frameWrites - before.frameWrites >= 20 * 3 * 2)
            #expect(try Self.rows(reader) == Array(1...20).map(Int64.init))
        }
    }

    @Test func anotherConnectionReadsWhatACommitWithoutASyncWrote() throws {
        for synchronous in ["NORMAL", "OFF"] {
            try Self.withDatabases(synchronous: synchronous) { writer, reader in
                for x in 1...50 {
                    try writer.transaction { try Self.insert(writer, x) }
                    #expect(try Self.rows(reader).last == Int64(x), "synchronous = \(synchronous)")
                }
                #expect(try reader.prepare("PRAGMA integrity_check").rows { $0.text(0) } == ["ok"])
            }
        }
    }

    @Test func aWriteThatFailsFailsTheCommitAndNothingIsPublished() throws {
        try Self.withDatabases(synchronous: "FULL") { writer, reader in
            try writer.transaction { try Self.insert(writer, 1) }
            #expect(livefeed_wal_vfs_fail_flushes(writer.handle, 1) == 1)
            #expect(throws: SQLiteError.self) { try writer.transaction { try Self.insert(writer, 2) } }
            #expect(try Self.rows(reader) == [1], "the failed commit is not seen")
            // The disk has room again: the next commits go through, and the file is whole.
            try writer.transaction { try Self.insert(writer, 3) }
            #expect(try Self.rows(reader) == [1, 3])
            #expect(try reader.prepare("PRAGMA integrity_check").rows { $0.text(0) } == ["ok"])
        }
    }

    @Test func aTransactionLargerThanTheBufferIsWrittenAsItFills() throws {
        try Self.withDatabases(synchronous: "FULL") { writer, reader in
            let before = Self.counts(writer)
            try writer.transaction { for x in 1...600 { try Self.insert(writer, x, bodyBytes: 1000) } }
            let after = Self.counts(writer)
            #expect(after.writes - before.writes > 1, "600 KB of frames: several writes")
            #expect(try Self.rows(reader).count == 600)
            #expect(try reader.prepare("PRAGMA integrity_check").rows { $0.text(0) } == ["ok"])
            // A checkpoint reads the frames back into the database file.
            try writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            #expect(try Self.rows(reader).count == 600)
        }
    }
}
