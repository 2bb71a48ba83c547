import LivefeedProtocol

/// `/live/dashboard`: everything the dashboard shows (totals, messages per minute, the two rankings, the latest
/// messages) as one `dashboard` envelope or one set of out-of-band fragments. It is the most expensive answer a
/// worker has, so it is computed once per state of the database and minute (`Key`), however many dashboards are
/// open or ask for the page, and pushed to every open dashboard like any other frame.
final class DashboardFeed: LiveFeed {
    struct Key: Equatable {
        var dataVersion: Int64
        var ownWrites: Int64
        var minute: Int64
        var epoch: String
    }

    static let chartMinutes = 30
    static let rankingSize = 5
    static let recentCount = 8

    private var subscribers: [UInt64: LiveSession] = [:]
    private var cache: (key: Key, data: Pages.Dashboard)?
    /// The key of the last frames published: a tick publishes only when it moved.
    private var published: Key?
    var subscriberCount: Int { subscribers.count }

    /// The dashboard now; call inside a read transaction.
    func current(_ store: MessageStore) throws -> (key: Key, data: Pages.Dashboard) {
        let now = Timestamp.nowUnixMilliseconds()
        let key = Key(
            dataVersion: try store.dataVersion(), ownWrites: store.ownWrites, minute: now / 60_000, epoch: store.epoch)
        if let cache, cache.key == key { return cache }
        let data = Pages.Dashboard(
            totals: try store.totals(),
            activity: try store.messagesPerMinute(minutes: Self.chartMinutes, nowMilliseconds: now),
            topChannels: try store.topChannels(limit: Self.rankingSize),
            topUsers: try store.topUsers(limit: Self.rankingSize),
            recent: try store.recentMessages(limit: Self.recentCount), epoch: store.epoch)
        cache = (key, data)
        return (key, data)
    }

    func subscribe(_ c: LiveSession, after: Int64?, _ context: FeedContext) throws {
        subscribers[c.id] = c
        try context.store.read {
            let (_, d) = try current(context.store)
            var frame = SharedFrame()
            c.enqueueSnapshot(key: 0, Self.frame(d, context, c.format, &frame))
            c.cursor = d.totals.lastMessageID
        }
    }

    func unsubscribe(_ c: LiveSession) { subscribers[c.id] = nil }

    /// The chart moves on with the clock, so a new minute is a tick even when nothing was written.
    func wantsTick(databaseChanged: Bool, nowMilliseconds: Int64) -> Bool {
        databaseChanged || published.map { $0.minute != nowMilliseconds / 60_000 } ?? true
    }

    func publish(_ context: FeedContext) throws {
        let (key, d) = try current(context.store)
        guard key != published else { return }
        published = key
        var frame = SharedFrame()
        for c in subscribers.values {
            c.enqueueSnapshot(key: 0, Self.frame(d, context, c.format, &frame))
            c.cursor = d.totals.lastMessageID
            context.touch(c)
        }
    }

    // MARK: encodings

    private static func frame(_ d: Pages.Dashboard, _ context: FeedContext, _ format: LiveFormat,
        _ frame: inout SharedFrame) -> SharedBytes
    {
        frame.bytes(format, json: { json(d, context) }, html: { html(d) })
    }

    static func json(_ d: Pages.Dashboard, _ context: FeedContext) -> [UInt8] {
        Envelope.snapshot(.dashboard, cursor: d.totals.lastMessageID, epoch: context.epoch, now: context.now) { w in
            w.field("messages", d.totals.messages)
            w.field("channels", d.totals.channels)
            w.field("users", d.totals.users)
            w.key("per_minute")
            w.beginArray()
            for n in d.activity.counts { w.value(n) }
            w.endArray()
            w.field("per_minute_complete", d.activity.complete)
            w.key("top_channels")
            writeRanking(d.topChannels.map { ($0.id, $0.name, $0.messageCount, $0.lastMessageID) }, &w)
            w.key("top_users")
            writeRanking(d.topUsers.map { ($0.id, $0.name, $0.messageCount, $0.lastMessageID) }, &w)
            w.key("recent")
            w.beginArray()
            for m in d.recent { m.writeJSON(into: &w) }
            w.endArray()
        }
    }

    private static func writeRanking(_ rows: [(Int64, String, Int64, Int64)], _ w: inout JSONWriter) {
        w.beginArray()
        for (id, name, count, last) in rows {
            w.beginObject()
            w.field("id", id)
            w.field("name", name)
            w.field("message_count", count)
            w.field("last_message_id", last)
            w.endObject()
        }
        w.endArray()
    }

    /// The page's parts as out-of-band fragments: a live frame, and the polling fallback's answer.
    static func html(_ d: Pages.Dashboard) -> String {
        let cursor = d.totals.lastMessageID
        return Fragments.totals(
            messages: d.totals.messages, channels: d.totals.channels, users: d.totals.users, cursor: cursor, live: true)
            + Fragments.activity(counts: d.activity.counts, complete: d.activity.complete, cursor: cursor, oob: true)
            + Fragments.topChannels(d.topChannels, cursor: cursor, oob: true)
            + Fragments.topUsers(d.topUsers, cursor: cursor, oob: true)
            + Fragments.recent(id: "recent", d.recent, showChannel: true, cursor: cursor, oob: true)
    }
}
