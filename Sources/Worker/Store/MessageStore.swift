import CSQLite
import CWALWrites
import LivefeedProtocol

/// The worker's SQLite access: one connection, prepared statements, WAL. Reads see other processes'
/// commits; `dataVersion` tells cheaply whether anything changed since the last look.
final class MessageStore {
    let db: SQLiteDatabase
    /// The database's identity (`meta.epoch`) as this worker last read it; see `MessageStore+Epoch.swift`.
    var epoch: String
    /// Counts this connection's own writes, which PRAGMA data_version does not: with it, (data_version, ownWrites)
    /// changes whenever the database may have.
    private(set) var ownWrites: Int64 = 0
    /// No idempotency key this connection knows of expires before this time (ms since the epoch): until then the
    /// ingest does not look for keys to prune. See `MessageStore+Idempotency.swift`.
    var keysExpireNoSoonerThan: Int64 = .min
    private let selectAfter: SQLiteStatement
    private let selectChannelAfter: SQLiteStatement
    private let selectChannels: SQLiteStatement
    private let selectChannel: SQLiteStatement
    private let selectUsers: SQLiteStatement
    private let selectUser: SQLiteStatement
    private let selectTotals: SQLiteStatement
    private let selectMaxID: SQLiteStatement
    private let selectDataVersion: SQLiteStatement
    /// For `MessageStore+Epoch.swift`, run on every change of the database.
    let selectNewestAssigned: SQLiteStatement
    let selectEpoch: SQLiteStatement
    private let selectUserMessages: SQLiteStatement
    private let selectRecent: SQLiteStatement
    private let selectAfterUpTo: SQLiteStatement
    private let selectChannelsChanged: SQLiteStatement
    private let selectUsersChanged: SQLiteStatement
    private let selectBacklog: SQLiteStatement
    private let selectChannelStart: SQLiteStatement
    private let channelByName: SQLiteStatement
    private let channelExists: SQLiteStatement
    private let userExists: SQLiteStatement
    private let userByName: SQLiteStatement
    private let insertChannel: SQLiteStatement
    private let insertUser: SQLiteStatement
    private let insertMessage: SQLiteStatement
    private let insertMessageNow: SQLiteStatement
    private let beginRead: SQLiteStatement
    private let commitRead: SQLiteStatement
    private var readDepth = 0

    /// The most of a message's text that is read and served, in bytes: four times what the API stores, so only
    /// rows other programs wrote can pass it. Such a row's text (SQLite allows a gigabyte) was read whole into
    /// every page and live frame that carried it: 20 MB of text made a 20 MB frame and a 20 MB API page. Its start
    /// is served instead, cut at a byte (a split character becomes U+FFFD), with `text_truncated`.
    static let maxServedTextBytes = 65536

    static let messageColumns = """
        SELECT m.id, m.channel_id, coalesce(c.name, ''), m.user_id, coalesce(u.name, ''),
            substr(CAST(m.text AS BLOB), 1, \(maxServedTextBytes)), m.sent_at,
            length(CAST(m.text AS BLOB)) > \(maxServedTextBytes)
        FROM messages m LEFT JOIN channels c ON c.id = m.channel_id LEFT JOIN users u ON u.id = m.user_id
        """

    /// A follower's replica (`--role follower`): opened read-only; what it has not received yet is not "ahead".
    let readOnly: Bool

    init(path: String, readOnly: Bool = false, uri: Bool = false) throws {
        self.readOnly = readOnly
        let vfs = readOnly || uri ? nil : try Self.writerVFS()
        db = try SQLiteDatabase(path: path, readOnly: readOnly, uri: uri, vfs: vfs)
        try db.execute("PRAGMA foreign_keys = ON")
        // A 201 means the message survives a power cut: every commit syncs the WAL (synchronous is per connection,
        // and FULL is the library's default only where it was built that way). Measured here: POST round trip
        // 1.3-1.4 ms with it, 0.7 ms with NORMAL, which would lose the last commits on a power cut.
        try db.execute("PRAGMA synchronous = FULL")
        guard let e = try db.prepare("SELECT value FROM meta WHERE key = 'epoch'").rows({ $0.text(0) }).first else {
            throw SQLiteError(code: 1, message: "\(path) has no epoch: not a livefeed database (run the supervisor)")
        }
        epoch = e
        beginRead = try db.prepare("BEGIN")
        commitRead = try db.prepare("COMMIT")
        selectAfter = try db.prepare(Self.messageColumns + " WHERE m.id > ?1 ORDER BY m.id LIMIT ?2")
        selectChannelAfter = try db.prepare(
            Self.messageColumns + " WHERE m.channel_id = ?1 AND m.id > ?2 AND m.id <= ?3 ORDER BY m.id LIMIT ?4")
        selectUserMessages = try db.prepare(
            Self.messageColumns + " WHERE m.user_id = ?1 ORDER BY m.id DESC LIMIT ?2")
        selectAfterUpTo = try db.prepare(Self.messageColumns + " WHERE m.id > ?1 AND m.id <= ?2 ORDER BY m.id LIMIT ?3")
        selectChannelsChanged = try db.prepare(
            "SELECT id, name, message_count, last_message_id FROM channels WHERE last_message_id > ?1")
        selectUsersChanged = try db.prepare(
            "SELECT id, name, message_count, last_message_id FROM users WHERE last_message_id > ?1")
        selectBacklog = try db.prepare(
            "SELECT count(*) FROM (SELECT 1 FROM messages WHERE channel_id = ?1 AND id > ?2 LIMIT ?3)")
        selectRecent = try db.prepare(Self.messageColumns + " ORDER BY m.id DESC LIMIT ?1")
        selectChannelStart = try db.prepare(
            "SELECT coalesce(min(id), 1) - 1 FROM (SELECT id FROM messages WHERE channel_id = ?1 ORDER BY id DESC LIMIT ?2)")
        selectChannels = try db.prepare(
            "SELECT id, name, message_count, last_message_id FROM channels ORDER BY name LIMIT ?1")
        selectChannel = try db.prepare("SELECT id, name, message_count, last_message_id FROM channels WHERE id = ?1")
        selectUsers = try db.prepare("SELECT id, name, message_count, last_message_id FROM users ORDER BY name LIMIT ?1")
        selectUser = try db.prepare("SELECT id, name, message_count, last_message_id FROM users WHERE id = ?1")
        selectTotals = try db.prepare("SELECT messages, channels, users, last_message_id FROM totals WHERE id = 1")
        selectMaxID = try db.prepare("SELECT coalesce(max(id), 0) FROM messages")
        selectDataVersion = try db.prepare("PRAGMA data_version")
        selectNewestAssigned = try db.prepare(
            """
            SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
                       coalesce((SELECT max(id) FROM messages), 0))
            """)
        selectEpoch = try db.prepare("SELECT value FROM meta WHERE key = 'epoch'")
        channelByName = try db.prepare("SELECT id FROM channels WHERE name = ?1")
        channelExists = try db.prepare("SELECT 1 FROM channels WHERE id = ?1")
        userExists = try db.prepare("SELECT 1 FROM users WHERE id = ?1")
        userByName = try db.prepare("SELECT id FROM users WHERE name = ?1")
        insertChannel = try db.prepare("INSERT INTO channels(name) VALUES (?1)")
        insertUser = try db.prepare("INSERT INTO users(name) VALUES (?1)")
        insertMessage = try db.prepare("INSERT INTO messages(channel_id, user_id, text, sent_at) VALUES (?1, ?2, ?3, ?4)")
        insertMessageNow = try db.prepare("INSERT INTO messages(channel_id, user_id, text) VALUES (?1, ?2, ?3)")
    }

    /// The VFS of a writing connection: the default one, with each commit's WAL frames written in one call
    /// (Sources/CWALWrites: ten pages were twenty pwrite calls, ~15 µs of CPU per commit more than one).
    static func writerVFS() throws -> String {
        let rc = livefeed_wal_vfs_register()
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, message: "cannot register the WAL-writing VFS") }
        return LIVEFEED_WAL_VFS_NAME
    }

    static func message(_ s: SQLiteStatement) -> ChatMessage {
        ChatMessage(
            id: s.int(0), channelID: s.int(1), channelName: s.text(2), userID: s.int(3), userName: s.text(4),
            text: s.text(5), sentAt: s.text(6), textTruncated: s.int(7) != 0)
    }

    /// Changes whenever another connection commits (PRAGMA data_version); our own commits do not change it.
    func dataVersion() throws -> Int64 { try selectDataVersion.bind([]).rows { $0.int(0) }.first ?? 0 }

    func maxMessageID() throws -> Int64 { try selectMaxID.bind([]).rows { $0.int(0) }.first ?? 0 }

    /// Messages of every channel with id > `after`, ascending, at most `limit`.
    func messages(after: Int64, limit: Int) throws -> [ChatMessage] {
        try selectAfter.bind([.int(after), .int(Int64(limit))]).rows(Self.message)
    }

    /// Messages of every channel with `after` < id ≤ `upTo`, ascending, at most `limit`.
    func messages(after: Int64, upTo: Int64, limit: Int) throws -> [ChatMessage] {
        try selectAfterUpTo.bind([.int(after), .int(upTo), .int(Int64(limit))]).rows(Self.message)
    }

    /// Channels whose counts moved since message `after` (their newest message is later).
    func channelsChanged(after: Int64) throws -> [ChannelRow] {
        try selectChannelsChanged.bind([.int(after)]).rows {
            ChannelRow(id: $0.int(0), name: $0.text(1), messageCount: $0.int(2), lastMessageID: $0.int(3))
        }
    }

    func usersChanged(after: Int64) throws -> [UserRow] {
        try selectUsersChanged.bind([.int(after)]).rows {
            UserRow(id: $0.int(0), name: $0.text(1), messageCount: $0.int(2), lastMessageID: $0.int(3))
        }
    }

    /// How many of a channel's messages follow `after`, counting no further than `limit`: the cost is bounded by
    /// the limit, not the backlog.
    func backlog(_ channel: Int64, after: Int64, limit: Int) throws -> Int {
        Int(try selectBacklog.bind([.int(channel), .int(after), .int(Int64(limit))]).rows { $0.int(0) }.first ?? 0)
    }

    /// Runs `body` in one read transaction, so everything it reads comes from the same snapshot. Nested calls join
    /// the outer transaction.
    func read<T>(_ body: () throws -> T) throws -> T {
        if readDepth > 0 {
            readDepth += 1
            defer { readDepth -= 1 }
            return try body()
        }
        try beginRead.run()
        readDepth = 1
        defer {
            readDepth = 0
            try? commitRead.run()
        }
        return try body()
    }

    /// One channel's messages with `after` < id ≤ `upTo`, ascending, at most `limit`.
    func channelMessages(_ channel: Int64, after: Int64, upTo: Int64 = .max, limit: Int) throws -> [ChatMessage] {
        try selectChannelAfter.bind([.int(channel), .int(after), .int(upTo), .int(Int64(limit))]).rows(Self.message)
    }

    /// The newest `limit` messages of all channels, newest first, within a page's byte budget (`pageBytes`).
    func recentMessages(limit: Int) throws -> [ChatMessage] {
        let rows = try selectRecent.bind([.int(Int64(limit))]).rows(Self.message)
        return Array(rows.prefix(Self.fitting(rows)))
    }

    /// The cursor just before a channel's newest `limit` messages.
    func channelMessagesBefore(_ channel: Int64, limit: Int) throws -> Int64 {
        try selectChannelStart.bind([.int(channel), .int(Int64(limit))]).rows { $0.int(0) }.first ?? 0
    }

    /// A user's newest `limit` messages, newest first, within a page's byte budget (`pageBytes`).
    func recentUserMessages(_ user: Int64, limit: Int) throws -> [ChatMessage] {
        let rows = try selectUserMessages.bind([.int(user), .int(Int64(limit))]).rows(Self.message)
        return Array(rows.prefix(Self.fitting(rows)))
    }

    /// The longest list a page, the API or a live view's first frames show at once; `listPage` goes on past it.
    static let listLimit = 1000

    /// Channels by name, the first `limit` of them.
    func channels(limit: Int = listLimit) throws -> [ChannelRow] {
        try selectChannels.bind([.int(Int64(limit))]).rows {
            ChannelRow(id: $0.int(0), name: $0.text(1), messageCount: $0.int(2), lastMessageID: $0.int(3))
        }
    }

    func channel(_ id: Int64) throws -> ChannelRow? {
        try selectChannel.bind([.int(id)]).rows {
            ChannelRow(id: $0.int(0), name: $0.text(1), messageCount: $0.int(2), lastMessageID: $0.int(3))
        }.first
    }

    /// Users by name, the first `limit` of them.
    func users(limit: Int = listLimit) throws -> [UserRow] {
        try selectUsers.bind([.int(Int64(limit))]).rows {
            UserRow(id: $0.int(0), name: $0.text(1), messageCount: $0.int(2), lastMessageID: $0.int(3))
        }
    }

    func user(_ id: Int64) throws -> UserRow? {
        try selectUser.bind([.int(id)]).rows {
            UserRow(id: $0.int(0), name: $0.text(1), messageCount: $0.int(2), lastMessageID: $0.int(3))
        }.first
    }

    func totals() throws -> Totals {
        try selectTotals.bind([]).rows {
            Totals(messages: $0.int(0), channels: $0.int(1), users: $0.int(2), lastMessageID: $0.int(3))
        }.first ?? Totals(messages: 0, channels: 0, users: 0, lastMessageID: 0)
    }

    /// Inserts all messages in one transaction: all are stored or none. Returns their ids in order.
    func insert(_ batch: [NewMessage]) throws -> [Int64] {
        try db.transaction { try insertRows(batch) }
    }

    /// Inserts inside the caller's write transaction.
    func insertRows(_ batch: [NewMessage]) throws -> [Int64] {
        ownWrites &+= 1
        var ids: [Int64] = []
        ids.reserveCapacity(batch.count)
        for m in batch {
            let channel = try resolve(m.channel, byName: channelByName, insert: insertChannel, byID: channelExists)
            guard let channel else {
                if case .id(let id) = m.channel { throw IngestError.unknownChannel(id) }
                preconditionFailure("names always resolve")
            }
            let user = try resolve(m.user, byName: userByName, insert: insertUser, byID: userExists)
            guard let user else {
                if case .id(let id) = m.user { throw IngestError.unknownUser(id) }
                preconditionFailure("names always resolve")
            }
            if let sentAt = m.sentAt {
                try insertMessage.bind([.int(channel), .int(user), .text(m.text), .text(sentAt)]).run()
            } else {
                try insertMessageNow.bind([.int(channel), .int(user), .text(m.text)]).run()
            }
            ids.append(db.lastInsertRowID)
        }
        return ids
    }

    private func resolve(
        _ ref: NewMessage.Ref, byName: SQLiteStatement, insert: SQLiteStatement, byID: SQLiteStatement
    ) throws -> Int64? {
        switch ref {
        case .id(let id):
            return try byID.bind([.int(id)]).hasRow() ? id : nil
        case .name(let name):
            if let id = try byName.bind([.text(name)]).rows({ $0.int(0) }).first { return id }
            try insert.bind([.text(name)]).run()
            return db.lastInsertRowID
        }
    }
}
