import CSQLite
import Foundation

/// One SQLite connection. Owns the handle; statements it prepares must not outlive it.
final class SQLiteDatabase {
    let handle: OpaquePointer

    /// `path` is a file name, or with `uri` a `file:` URI (sqlite3_open_v2 with SQLITE_OPEN_URI: `vfs=`, `mode=`…).
    /// `create: false` fails rather than create a missing file. `vfs`: a registered VFS's name (nil: the default).
    init(
        path: String, readOnly: Bool = false, uri: Bool = false, create: Bool = true, busyTimeoutMilliseconds: Int32 = 5000,
        vfs: String? = nil
    ) throws {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0))
            | SQLITE_OPEN_NOMUTEX
            | (uri ? SQLITE_OPEN_URI : 0)
        let rc = sqlite3_open_v2(path, &db, flags, vfs)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "\(path): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    /// Loads a SQLite extension into the process (an extension that registers a VFS, such as Litestream's, makes it
    /// available to every connection opened afterwards): through a throwaway in-memory connection, with extension
    /// loading enabled for that connection only.
    static func loadExtension(_ path: String) throws {
        let boot = try SQLiteDatabase(path: ":memory:")
        guard sqlite3_enable_load_extension(boot.handle, 1) == SQLITE_OK else { throw boot.error(SQLITE_ERROR) }
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_load_extension(boot.handle, path, nil, &message)
        defer { sqlite3_free(message) }
        sqlite3_enable_load_extension(boot.handle, 0)
        guard rc == SQLITE_OK else {
            throw SQLiteError(code: rc, message: "\(path): \(message.map { String(cString: $0) } ?? "cannot load")")
        }
    }

    func error(_ rc: Int32) -> SQLiteError { SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle))) }

    /// Runs SQL that returns no rows (several statements allowed).
    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw SQLiteError(code: rc, message: text)
        }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement { try SQLiteStatement(database: self, sql: sql) }

    /// Statements this connection runs again and again (transaction control, the ingest's key lookups), compiled
    /// once: compiling them per request was a fifth of an ingesting worker's CPU (perf, one POST per message).
    private var statements: [String: SQLiteStatement] = [:]
    /// Bounds `statements`: callers pass SQL literals, so the cache holds a fixed handful; a bug passing built
    /// strings would start compiling afresh rather than grow without end.
    static let maxCachedStatements = 64

    /// The prepared statement for `sql` (one statement), compiled on first use and kept with the connection. Reset
    /// and rebound by the caller's `bind`; a statement still stepping must not be asked for again until it is done.
    func cached(_ sql: String) throws -> SQLiteStatement {
        if let statement = statements[sql] { return statement }
        let statement = try prepare(sql)
        if statements.count < Self.maxCachedStatements { statements[sql] = statement }
        return statement
    }

    /// Runs one statement that returns no rows, through the cache (`execute` compiles every time, for scripts).
    func run(_ sql: String) throws { try cached(sql).bind([]).run() }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the last INSERT, UPDATE or DELETE (sqlite3_changes64).
    var changes: Int64 { sqlite3_changes64(handle) }

    /// Between `beginGroup` and `endGroup`, `transaction` bodies run as savepoints of one write transaction, begun
    /// by the first of them, so they share one commit (and one fdatasync).
    private(set) var grouping = false
    private var groupBegun = false
    /// Set when an error ended the group's whole transaction (SQLite rolls it all back on some, e.g. a full disk):
    /// what the group wrote before is gone, so `endGroup` throws it and later bodies fail with it.
    private var groupLost: Error?

    /// Groups the transactions that follow until `endGroup`.
    func beginGroup() {
        precondition(!grouping, "groups do not nest")
        grouping = true
    }

    /// Commits the group's transactions (nothing to do when none began); if the commit fails, all of them are
    /// rolled back and the error is thrown.
    func endGroup() throws {
        defer {
            grouping = false
            groupBegun = false
            groupLost = nil
        }
        if let groupLost { throw groupLost }
        guard groupBegun else { return }
        do {
            try run("COMMIT")
        } catch {
            try? run("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` in a write transaction (BEGIN IMMEDIATE), rolling back if it throws. In a group (`beginGroup`),
    /// the first body begins the group's transaction and later ones run in savepoints of it: a body that throws is
    /// undone alone, and what the others wrote is committed by `endGroup`.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        if grouping {
            if let groupLost { throw groupLost }
            if !groupBegun {
                // The group's first body needs no savepoint: the transaction holds nothing else, so a rollback undoes
                // it alone and the next body begins the group anew (two statements less for a lone request).
                try run("BEGIN IMMEDIATE")
                groupBegun = true  // before the body, so that a transaction inside it is a savepoint, as in any other
                do {
                    return try body()
                } catch {
                    try? run("ROLLBACK")
                    groupBegun = false
                    throw error
                }
            }
            try run("SAVEPOINT grouped")
            do {
                let result = try body()
                try run("RELEASE grouped")
                return result
            } catch {
                try? run("ROLLBACK TO grouped")
                try? run("RELEASE grouped")
                if sqlite3_get_autocommit(handle) != 0 {
                    groupLost = error
                    groupBegun = false
                }
                throw error
            }
        }
        try run("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            try? run("ROLLBACK")
            throw error
        }
    }
}

/// A follower's replica read through Litestream's VFS (docs/scale-out.md): pages come from the replica's LTX files
/// (`file://`, `s3://`…) as Litestream replicates them, and a long-lived read-only connection sees each new
/// transaction. (`litestream restore -f` instead writes the pages into a local file behind open connections: they
/// keep reading their cached pages and see nothing new until they reopen.)
enum LitestreamReplica {
    /// The extension's VFS name.
    static let vfs = "litestream"
    nonisolated(unsafe) private static var loaded = false

    /// Loads the extension once per process (`path`: the `litestream-vfs.so` of PyPI's litestream-vfs).
    static func load(_ path: String?) throws {
        guard !loaded else { return }
        guard let path else {
            throw SQLiteError(code: 1, message: "a follower with --replica-url needs --litestream-vfs PATH (litestream-vfs.so)")
        }
        try SQLiteDatabase.loadExtension(path)
        loaded = true
    }

    /// The URI that opens `replicaURL` read-only through the VFS, polling for new transactions every `pollMilliseconds`.
    static func uri(replicaURL: String, pollMilliseconds: Int) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let escaped = replicaURL.addingPercentEncoding(withAllowedCharacters: allowed) ?? replicaURL
        return "file:livefeed-replica.db?vfs=\(vfs)&mode=ro&poll_interval=\(pollMilliseconds)ms&replica_url=\(escaped)"
    }
}
