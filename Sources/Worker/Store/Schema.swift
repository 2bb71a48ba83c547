import Foundation

/// The database schema: part of livefeed's public contract, because other programs write the same file.
/// Counts are kept by triggers and are the only authority for them.
enum Schema {
    static let version: Int64 = 1

    static let sql = """
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS channels(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            message_count INTEGER NOT NULL DEFAULT 0,
            last_message_id INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
        CREATE TABLE IF NOT EXISTS users(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            message_count INTEGER NOT NULL DEFAULT 0,
            last_message_id INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
        CREATE TABLE IF NOT EXISTS messages(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            channel_id INTEGER NOT NULL REFERENCES channels(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            text TEXT NOT NULL,
            sent_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
        CREATE INDEX IF NOT EXISTS messages_by_channel ON messages(channel_id, id);
        CREATE INDEX IF NOT EXISTS messages_by_user ON messages(user_id, id);
        CREATE TABLE IF NOT EXISTS totals(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            messages INTEGER NOT NULL,
            channels INTEGER NOT NULL,
            users INTEGER NOT NULL,
            last_message_id INTEGER NOT NULL);
        INSERT OR IGNORE INTO totals VALUES (1, 0, 0, 0, 0);
        CREATE TABLE IF NOT EXISTS ingest_keys(
            key TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            ids TEXT NOT NULL,
            created_ms INTEGER NOT NULL) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS ingest_keys_by_age ON ingest_keys(created_ms);
        CREATE TRIGGER IF NOT EXISTS messages_counted_in AFTER INSERT ON messages BEGIN
            UPDATE channels SET message_count = message_count + 1, last_message_id = NEW.id
                WHERE id = NEW.channel_id;
            UPDATE users SET message_count = message_count + 1, last_message_id = NEW.id WHERE id = NEW.user_id;
            UPDATE totals SET messages = messages + 1, last_message_id = NEW.id WHERE id = 1;
        END;
        CREATE TRIGGER IF NOT EXISTS messages_counted_out AFTER DELETE ON messages BEGIN
            UPDATE channels SET message_count = message_count - 1 WHERE id = OLD.channel_id;
            UPDATE users SET message_count = message_count - 1 WHERE id = OLD.user_id;
            UPDATE totals SET messages = messages - 1 WHERE id = 1;
        END;
        CREATE TRIGGER IF NOT EXISTS messages_moved AFTER UPDATE OF channel_id, user_id ON messages BEGIN
            UPDATE channels SET message_count = message_count - 1 WHERE id = OLD.channel_id;
            UPDATE channels SET message_count = message_count + 1 WHERE id = NEW.channel_id;
            UPDATE users SET message_count = message_count - 1 WHERE id = OLD.user_id;
            UPDATE users SET message_count = message_count + 1 WHERE id = NEW.user_id;
        END;
        CREATE TRIGGER IF NOT EXISTS channels_counted_in AFTER INSERT ON channels BEGIN
            UPDATE totals SET channels = channels + 1 WHERE id = 1;
        END;
        CREATE TRIGGER IF NOT EXISTS channels_counted_out AFTER DELETE ON channels BEGIN
            UPDATE totals SET channels = channels - 1 WHERE id = 1;
        END;
        CREATE TRIGGER IF NOT EXISTS users_counted_in AFTER INSERT ON users BEGIN
            UPDATE totals SET users = users + 1 WHERE id = 1;
        END;
        CREATE TRIGGER IF NOT EXISTS users_counted_out AFTER DELETE ON users BEGIN
            UPDATE totals SET users = users - 1 WHERE id = 1;
        END;
        """

    /// Creates or upgrades the schema and gives a new database its epoch. Safe to run on every start.
    static func prepare(_ db: SQLiteDatabase) throws {
        try db.execute("PRAGMA journal_mode = WAL")
        try db.execute("PRAGMA synchronous = NORMAL")
        let current = try db.prepare("PRAGMA user_version").rows { $0.int(0) }.first ?? 0
        guard current <= version else {
            throw SQLiteError(code: 1, message: "database schema version \(current) is newer than this build (\(version))")
        }
        try db.transaction {
            try db.execute(sql)
            let epoch = randomHex(bytes: 8)
            try db.prepare("INSERT OR IGNORE INTO meta(key, value) VALUES ('epoch', ?1)").bind([.text(epoch)]).run()
            try db.execute("PRAGMA user_version = \(version)")
        }
    }

    /// A follower's replica: a livefeed database (it has an epoch) of a schema this build knows.
    static func checkReplica(_ db: SQLiteDatabase) throws {
        let current = try db.prepare("PRAGMA user_version").rows { $0.int(0) }.first ?? 0
        guard current <= version else {
            throw SQLiteError(code: 1, message: "the replica's schema version \(current) is newer than this build (\(version))")
        }
        guard current > 0, (try? db.prepare("SELECT value FROM meta WHERE key = 'epoch'").rows { $0.text(0) }.first) != nil
        else {
            throw SQLiteError(code: 1, message: "the replica is not a livefeed database (no schema, no epoch)")
        }
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in
            let b = UInt8.random(in: 0...255, using: &generator)
            return String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16)
        }.joined()
    }
}
