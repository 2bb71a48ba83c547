import Foundation

/// Writes to the server's database "as another program": through the `sqlite3` command-line tool, so the tests do
/// not link SQLite. The contract says a bare `INSERT INTO messages (channel_id, user_id, text, sent_at)` is a
/// complete, valid write; counts are the triggers' job.
struct SQLiteWriter {
    let databasePath: String

    /// Inserts one message row and returns its id (`messages.id`, the stream cursor).
    /// `sentAt` is stored as RFC 3339 text in UTC with milliseconds, like the envelopes' `sent_at`.
    @discardableResult
    func insertMessage(channelID: Int, userID: Int, text: String, sentAt: Date = Date()) throws -> Int {
        let output = try execute(
            """
            INSERT INTO messages (channel_id, user_id, text, sent_at)
                VALUES (\(channelID), \(userID), \(Self.quoted(text)), \(Self.quoted(Self.rfc3339(sentAt))));
            SELECT last_insert_rowid();
            """)
        guard let id = output.split(separator: "\n").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) })
        else {
            throw SubprocessError(description: "sqlite3 printed no row id: \(output.debugDescription)")
        }
        return id
    }

    /// Runs `sql` in one sqlite3 invocation that waits up to 5 s for a lock and stops at the first error;
    /// returns what sqlite3 printed.
    func execute(_ sql: String) throws -> String {
        guard let sqlite3 = Subprocess.findExecutable(named: "sqlite3") else {
            throw SubprocessError(description: "sqlite3 command-line tool not found on PATH (apt-get install sqlite3)")
        }
        let script = ".bail on\n.timeout 5000\n\(sql)\n"
        let result = try Subprocess.run(sqlite3, ["-batch", databasePath], stdin: script, timeout: .seconds(30))
        guard result.status == .exited(0) else {
            throw SubprocessError(description: "sqlite3 \(result.status): \(result.stderr) \(result.stdout)")
        }
        return result.stdout
    }

    /// An SQL string literal.
    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// `2026-11-26T14:00:00.123Z`.
    static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
