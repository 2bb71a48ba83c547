import LivefeedProtocol

/// Reads only the pages need: history pages, the dashboard's activity chart and rankings. Statements are prepared
/// per call: these serve page views and throttled refreshes, not the fan-out.
extension MessageStore {
    /// One channel's newest messages with id ≤ `newest`, oldest first, at most `limit`; `hasOlder` tells whether more
    /// precede them. Inclusive, so the page ending at a cursor of `Int64.max` (a row another program may write)
    /// needs no `cursor + 1`.
    func channelMessages(_ channel: Int64, through newest: Int64, limit: Int) throws -> (
        messages: [ChatMessage], hasOlder: Bool
    ) {
        let rows = try db.prepare(
            Self.messageColumns + " WHERE m.channel_id = ?1 AND m.id <= ?2 ORDER BY m.id DESC LIMIT ?3"
        ).bind([.int(channel), .int(newest), .int(Int64(limit + 1))]).rows(Self.message)
        // Newest first, so a page cut by its byte budget keeps the newest and the older ones are a click away.
        let kept = Self.fitting(rows.prefix(limit))
        return (Array(rows.prefix(kept).reversed()), rows.count > kept)
    }

    /// The bytes of text and names one page of messages may carry, whatever its `limit` says: what an answer holds
    /// in a worker until a client reads it. A message's text is at most 16 KiB through the API (rows written by
    /// other programs may hold more), and escaping can make a byte six (`\u0000` in JSON, `&quot;` in HTML), so 500
    /// of them made a 49 MB answer that a client could leave unread for the send timeout, on each of its
    /// connections. 512 KiB keeps an answer within `--max-queue-bytes` (4 MiB, the live queues' bound) at the worst
    /// escaping; a page of ordinary chat messages (500 of up to 1 KiB) is never cut.
    static let pageBytes = 512 * 1024

    /// How many of `rows`, in their order, fit in `budget` bytes of text and names: at least one, so a page always
    /// moves its cursor; the rest goes to the next page.
    static func fitting(_ rows: some Sequence<ChatMessage>, budget: Int = pageBytes) -> Int {
        var used = 0
        var count = 0
        for m in rows {
            used += m.text.utf8.count + m.channelName.utf8.count + m.userName.utf8.count
            if count > 0 && used > budget { break }
            count += 1
        }
        return count
    }

    /// One page of the channel list by name: the first `limit` after the name `after` (from the start when nil),
    /// and whether more follow. Lists used to stop at their first 1,000 names without saying so, so one POST creating
    /// 1,000 channels named to sort first hid every other channel.
    func channelPage(after: String?, limit: Int) throws -> (rows: [ChannelRow], hasMore: Bool) {
        let page = try listPage("channels", after: after, limit: limit)
        return (page.rows.map { ChannelRow(id: $0.0, name: $0.1, messageCount: $0.2, lastMessageID: $0.3) }, page.hasMore)
    }

    /// One page of the user list by name, as `channelPage`.
    func userPage(after: String?, limit: Int) throws -> (rows: [UserRow], hasMore: Bool) {
        let page = try listPage("users", after: after, limit: limit)
        return (page.rows.map { UserRow(id: $0.0, name: $0.1, messageCount: $0.2, lastMessageID: $0.3) }, page.hasMore)
    }

    private func listPage(_ table: StaticString, after: String?, limit: Int) throws -> (
        rows: [(Int64, String, Int64, Int64)], hasMore: Bool
    ) {
        let columns = "SELECT id, name, message_count, last_message_id FROM \(table)"
        let statement =
            if let after {
                try db.prepare(columns + " WHERE name > ?1 ORDER BY name LIMIT ?2")
                    .bind([.text(after), .int(Int64(limit + 1))])
            } else {
                try db.prepare(columns + " ORDER BY name LIMIT ?1").bind([.int(Int64(limit + 1))])
            }
        let rows = try statement.rows { ($0.int(0), $0.text(1), $0.int(2), $0.int(3)) }
        return (Array(rows.prefix(limit)), rows.count > limit)
    }

    /// Whether the channel has any message before `id`.
    func channelHasMessages(_ channel: Int64, before id: Int64) throws -> Bool {
        try db.prepare("SELECT EXISTS(SELECT 1 FROM messages WHERE channel_id = ?1 AND id < ?2)")
            .bind([.int(channel), .int(id)]).rows { $0.int(0) }.first == 1
    }

    /// The newest rows a per-minute count looks at: the cost stays bounded however busy the archive is.
    static let activityScanLimit = 20_000

    /// Messages per minute of `sent_at` (UTC) for the `minutes` minutes ending with the current one, oldest first.
    /// Counts come from the newest `activityScanLimit` messages; `complete` is false when that bound cut the window.
    func messagesPerMinute(minutes: Int, nowMilliseconds: Int64) throws -> (counts: [Int64], complete: Bool) {
        let minute: Int64 = 60_000
        let first = (nowMilliseconds / minute - Int64(minutes - 1)) * minute
        let keys = (0..<minutes).map {
            String(Timestamp.format(unixMilliseconds: first + Int64($0) * minute).prefix(16))
        }
        let rows = try db.prepare(
            """
            SELECT substr(sent_at, 1, 16) AS minute, count(*)
            FROM (SELECT sent_at FROM messages ORDER BY id DESC LIMIT ?1)
            WHERE sent_at >= ?2 GROUP BY minute
            """
        ).bind([.int(Int64(Self.activityScanLimit)), .text(keys[0])]).rows { ($0.text(0), $0.int(1)) }
        var byKey: [String: Int64] = [:]
        for (key, count) in rows { byKey[key] = count }
        let seen = rows.map(\.1).saturatingSum()
        return (keys.map { byKey[$0] ?? 0 }, seen < Int64(Self.activityScanLimit))
    }

    func topChannels(limit: Int) throws -> [ChannelRow] {
        try db.prepare(
            "SELECT id, name, message_count, last_message_id FROM channels ORDER BY message_count DESC, name LIMIT ?1"
        ).bind([.int(Int64(limit))]).rows {
            ChannelRow(id: $0.int(0), name: $0.text(1), messageCount: $0.int(2), lastMessageID: $0.int(3))
        }
    }

    func topUsers(limit: Int) throws -> [UserRow] {
        try db.prepare(
            "SELECT id, name, message_count, last_message_id FROM users ORDER BY message_count DESC, name LIMIT ?1"
        ).bind([.int(Int64(limit))]).rows {
            UserRow(id: $0.int(0), name: $0.text(1), messageCount: $0.int(2), lastMessageID: $0.int(3))
        }
    }

    /// The channels a user wrote in most among their newest 1000 messages, with how many there.
    func userChannels(_ user: Int64, limit: Int) throws -> [(channel: ChannelRow, count: Int64)] {
        try db.prepare(
            """
            SELECT c.id, c.name, c.message_count, c.last_message_id, count(*) AS n
            FROM (SELECT channel_id FROM messages WHERE user_id = ?1 ORDER BY id DESC LIMIT 1000) m
            JOIN channels c ON c.id = m.channel_id GROUP BY c.id ORDER BY n DESC, c.name LIMIT ?2
            """
        ).bind([.int(user), .int(Int64(limit))]).rows {
            (ChannelRow(id: $0.int(0), name: $0.text(1), messageCount: $0.int(2), lastMessageID: $0.int(3)), $0.int(4))
        }
    }
}
