import CSQLite
import Foundation

/// An SQLite error with the database's message.
struct SQLiteError: Error, CustomStringConvertible {
    var code: Int32
    var message: String
    var description: String { "sqlite error \(code): \(message)" }
    /// The database was busy or locked beyond the busy timeout.
    var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }
    var isConstraint: Bool { code & 0xff == SQLITE_CONSTRAINT }
}
