import Foundation
import Testing

@testable import Worker

/// The group commit's mechanics (`SQLiteDatabase.beginGroup`/`endGroup`): transactions become savepoints of one
/// write transaction, a failing one is undone alone, and nothing is visible to another connection before the one
/// commit; when an error ends the whole transaction, the group fails as a whole.
@Suite struct SQLiteGroupTests {
    /// A fresh database file with table `t`, through two connections: the group's, and another that reads.
    private static func withDatabases(_ body: (SQLiteDatabase, SQLiteDatabase) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "livefeed-group-\(UUID().uuidString).db"
        defer { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } }
        let db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA journal_mode = WAL; CREATE TABLE t(x INTEGER PRIMARY KEY)")
        try body(db, try SQLiteDatabase(path: path))
    }

    private static func insert(_ db: SQLiteDatabase, _ x: Int) throws {
        try db.transaction { try db.execute("INSERT INTO t VALUES (\(x))") }
    }

    private static func values(_ db: SQLiteDatabase) throws -> [Int64] {
        try db.prepare("SELECT x FROM t ORDER BY x").rows { $0.int(0) }
    }

    @Test func aFailedTransactionIsUndoneAloneAndTheRestCommitOnce() throws {
        try Self.withDatabases { db, other in
            db.beginGroup()
            try Self.insert(db, 1)
            #expect(throws: SQLiteError.self) {
                try db.transaction {
                    try db.execute("INSERT INTO t VALUES (2)")
                    try db.execute("INSERT INTO t VALUES (1)")  // primary key taken: this transaction fails
                }
            }
            try Self.insert(db, 3)
            #expect(try Self.values(other) == [], "nothing is committed before endGroup")
            try db.endGroup()
            #expect(try Self.values(other) == [1, 3])
            // After the group, transactions commit on their own again.
            try Self.insert(db, 4)
            #expect(try Self.values(other) == [1, 3, 4])
        }
    }

    @Test func aFailedFirstTransactionIsUndoneAloneAndTheNextBeginsTheGroup() throws {
        try Self.withDatabases { db, other in
            db.beginGroup()
            #expect(throws: SQLiteError.self) {
                try db.transaction {
                    try db.execute("INSERT INTO t VALUES (1)")
                    try db.execute("INSERT INTO t VALUES (1)")
                }
            }
            #expect(throws: IngestError.self) {
                try db.transaction {
                    try db.execute("INSERT INTO t VALUES (2)")
                    throw IngestError.unknownChannel(9)
                }
            }
            // A transaction inside the group's first one is a savepoint of it, as inside any other.
            try db.transaction {
                try Self.insert(db, 3)
                #expect(throws: SQLiteError.self) { try Self.insert(db, 3) }
            }
            try Self.insert(db, 4)
            #expect(try Self.values(other) == [], "nothing is committed before endGroup")
            try db.endGroup()
            #expect(try Self.values(other) == [3, 4])
        }
    }

    @Test func anErrorThatEndsTheWholeTransactionFailsTheGroup() throws {
        try Self.withDatabases { db, other in
            db.beginGroup()
            try Self.insert(db, 1)
            // SQLite rolls the whole transaction back on some errors (a full disk, an I/O error): done by hand here.
            #expect(throws: SQLiteError.self) {
                try db.transaction {
                    try db.execute("ROLLBACK")
                    throw SQLiteError(code: 13, message: "database or disk is full")
                }
            }
            #expect(throws: SQLiteError.self) { try Self.insert(db, 2) }
            #expect(throws: SQLiteError.self) { try db.endGroup() }
            #expect(try Self.values(other) == [], "what the group wrote before the error is reported lost, not committed")
            try Self.insert(db, 5)
            #expect(try Self.values(other) == [5])
        }
    }

    @Test func aGroupThatWroteNothingCommitsNothing() throws {
        try Self.withDatabases { db, _ in
            db.beginGroup()
            try db.endGroup()
            try Self.insert(db, 1)
            #expect(try Self.values(db) == [1])
        }
    }

    /// Transaction control and the ingest's lookups run from statements compiled once per connection: the same
    /// statement comes back, and a transaction rolled back by a failing body leaves the cached BEGIN, COMMIT and
    /// ROLLBACK usable for the next.
    @Test func cachedStatementsAreReusedAcrossCommitsAndRollbacks() throws {
        try Self.withDatabases { db, other in
            #expect(try db.cached("SELECT x FROM t") === db.cached("SELECT x FROM t"))
            for x in 1...3 { try Self.insert(db, x) }
            #expect(throws: SQLiteError.self) { try Self.insert(db, 2) }  // duplicate key: rolled back
            try Self.insert(db, 4)
            #expect(try Self.values(other) == [1, 2, 3, 4])
            let insert = try db.cached("INSERT INTO t VALUES (?1)")
            try db.transaction { try insert.bind([.int(7)]).run() }
            try db.transaction { try insert.bind([.int(8)]).run() }
            #expect(try Self.values(other) == [1, 2, 3, 4, 7, 8])
        }
    }
}
