import CSQLite
import Foundation

/// SQLITE_TRANSIENT: SQLite copies bound text before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement, reset before each use.
final class SQLiteStatement {
    let statement: OpaquePointer
    unowned let database: SQLiteDatabase

    init(database: SQLiteDatabase, sql: String) throws {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(database.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw database.error(rc) }
        self.statement = stmt
        self.database = database
    }

    deinit { sqlite3_finalize(statement) }

    enum Value {
        case int(Int64)
        case text(String)
        case null
    }

    /// Resets the statement and binds `values` to ?1, ?2, ….
    @discardableResult
    func bind(_ values: [Value]) -> SQLiteStatement {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        for (i, v) in values.enumerated() {
            let index = Int32(i + 1)
            switch v {
            case .int(let n): sqlite3_bind_int64(statement, index, n)
            case .text(let s): bindText(s, at: index)
            case .null: sqlite3_bind_null(statement, index)
            }
        }
        return self
    }

    /// Binds with the byte length, never up to a NUL: text is stored exactly as given, "a\0b" included. An empty
    /// string gets a non-null pointer (a null one would bind SQL NULL).
    private func bindText(_ text: String, at index: Int32) {
        var text = text
        text.withUTF8 { bytes in
            if let base = bytes.baseAddress {
                base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                    _ = sqlite3_bind_text64(statement, index, $0, sqlite3_uint64(bytes.count), transient, UInt8(SQLITE_UTF8))
                }
            } else {
                _ = sqlite3_bind_text(statement, index, "", 0, transient)
            }
        }
    }

    /// Steps once: true when a row is available.
    func step() throws -> Bool {
        let rc = sqlite3_step(statement)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let err = database.error(rc)
            sqlite3_reset(statement)
            throw err
        }
    }

    /// Steps to completion, ignoring rows; for writes.
    func run() throws {
        while try step() {}
        sqlite3_reset(statement)
    }

    /// True when the statement yields a row; resets.
    func hasRow() throws -> Bool {
        defer { sqlite3_reset(statement) }
        return try step()
    }

    /// Collects every row through `row`, then resets.
    func rows<T>(_ row: (SQLiteStatement) -> T) throws -> [T] {
        var out: [T] = []
        while try step() { out.append(row(self)) }
        sqlite3_reset(statement)
        return out
    }

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func text(_ column: Int32) -> String {
        guard let p = sqlite3_column_text(statement, column) else { return "" }
        let n = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
}
