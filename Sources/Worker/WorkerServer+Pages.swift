import LivefeedProtocol

extension WorkerServer {
    func page(_ segments: [String], _ head: HTTPRequestHead) throws -> Routed {
        switch segments.count {
        case 0:
            return .html(try store.read { Pages.dashboard(try dashboardData(), assets: assets) })
        case 1 where segments[0] == "channels":
            return .html(
                try store.read {
                    Pages.channels(
                        try store.channels(), cursor: try store.maxMessageID(), epoch: store.epoch, assets: assets)
                })
        case 1 where segments[0] == "users":
            return .html(
                try store.read {
                    Pages.users(try store.users(), cursor: try store.maxMessageID(), epoch: store.epoch, assets: assets)
                })
        case 2 where segments[0] == "channels":
            guard let id = parseID(segments[1]) else { return .failure(404, "not_found", "no such channel") }
            var before: Int64?
            if let raw = head.queryValue("before_id") {
                guard let v = parseID(raw) else {
                    return .failure(400, "bad_query", "before_id must be a positive integer")
                }
                before = v
            }
            return try store.read {
                guard let ch = try store.channel(id) else { return .failure(404, "not_found", "no such channel") }
                // The page shows every message of the channel up to the cursor (its newest 50 of them), so live
                // resumes right after it.
                let cursor = try store.maxMessageID()
                // before_id is positive (parseID), so before - 1 cannot overflow.
                let page = try store.channelMessages(
                    id, through: before.map { $0 - 1 } ?? cursor, limit: Self.channelPageSize)
                return .html(
                    Pages.channel(
                        ch, messages: page.messages, hasOlder: page.hasOlder, cursor: cursor,
                        epoch: store.epoch, before: before, assets: assets))
            }
        case 2 where segments[0] == "users":
            guard let id = parseID(segments[1]) else { return .failure(404, "not_found", "no such user") }
            return try store.read {
                guard let u = try store.user(id) else { return .failure(404, "not_found", "no such user") }
                return .html(
                    Pages.user(
                        u, recent: try store.recentUserMessages(id, limit: 20),
                        channels: try store.userChannels(id, limit: 6), cursor: try store.maxMessageID(),
                        epoch: store.epoch, assets: assets))
            }
        default:
            return .failure(404, "not_found", "no page at \(head.path)")
        }
    }

    static let channelPageSize = 50

    /// Everything the dashboard shows; call inside a read transaction. It is the most expensive answer a worker
    /// has (totals, a per-minute scan, two rankings, the latest messages), so it is computed once per state of the
    /// database and minute, however many dashboards ask.
    func dashboardData() throws -> Pages.Dashboard {
        let now = Timestamp.nowUnixMilliseconds()
        let key = DashboardKey(
            dataVersion: try store.dataVersion(), ownWrites: store.ownWrites, minute: now / 60_000, epoch: store.epoch)
        if let cached = dashboardCache, cached.key == key { return cached.data }
        let data = Pages.Dashboard(
            totals: try store.totals(),
            activity: try store.messagesPerMinute(minutes: 30, nowMilliseconds: now),
            topChannels: try store.topChannels(limit: 5), topUsers: try store.topUsers(limit: 5),
            recent: try store.recentMessages(limit: 8), epoch: store.epoch)
        dashboardCache = (key, data)
        return data
    }
}

/// `/fragments/...`: what the pages poll when live is unavailable. The same fragments as `format=html` frames,
/// with the same cursor and epoch, so falling back to polling and coming back loses nothing.
extension WorkerServer {
    func fragment(_ segments: [String], _ head: HTTPRequestHead) throws -> Routed {
        switch segments.count {
        case 1 where segments[0] == "metrics":
            return try store.read {
                let t = try store.totals()
                let html = Fragments.totals(
                    messages: t.messages, channels: t.channels, users: t.users, cursor: t.lastMessageID, live: true)
                return .fragment(html, cursor: t.lastMessageID)
            }
        case 1 where segments[0] == "channels":
            return try store.read {
                let cursor = try store.maxMessageID()
                let html = try store.channels().map {
                    Fragments.count(.channel, id: $0.id, count: $0.messageCount, cursor: cursor)
                }.joined()
                return .fragment(html, cursor: cursor)
            }
        case 1 where segments[0] == "users":
            return try store.read {
                let cursor = try store.maxMessageID()
                let html = try store.users().map {
                    Fragments.count(.user, id: $0.id, count: $0.messageCount, cursor: cursor)
                }.joined()
                return .fragment(html, cursor: cursor)
            }
        case 1 where segments[0] == "dashboard":
            return try store.read {
                let d = try dashboardData()
                let cursor = d.totals.lastMessageID
                let html =
                    Fragments.activity(counts: d.activity.counts, complete: d.activity.complete, oob: true)
                    + Fragments.topChannels(d.topChannels, oob: true) + Fragments.topUsers(d.topUsers, oob: true)
                    + Fragments.recent(id: "recent", d.recent, showChannel: true, cursor: cursor, oob: true)
                return .fragment(html, cursor: cursor)
            }
        case 2 where segments[0] == "users":
            guard let id = parseID(segments[1]) else { return .failure(404, "not_found", "no such user") }
            return try store.read {
                guard let u = try store.user(id) else { return .failure(404, "not_found", "no such user") }
                let cursor = try store.maxMessageID()
                return .fragment(
                    Fragments.count(.user, id: u.id, count: u.messageCount, cursor: cursor), cursor: cursor)
            }
        case 3 where segments[0] == "users" && segments[2] == "messages":
            guard let id = parseID(segments[1]) else { return .failure(404, "not_found", "no such user") }
            return try store.read {
                guard try store.user(id) != nil else { return .failure(404, "not_found", "no such user") }
                let cursor = try store.maxMessageID()
                let html =
                    Fragments.recent(
                        id: "user-messages", try store.recentUserMessages(id, limit: 20),
                        showChannel: true, cursor: cursor, oob: true)
                    + Fragments.userChannels(try store.userChannels(id, limit: 6), oob: true)
                return .fragment(html, cursor: cursor)
            }
        case 3 where segments[0] == "channels" && segments[2] == "history":
            guard let id = parseID(segments[1]) else { return .failure(404, "not_found", "no such channel") }
            guard let raw = head.queryValue("before_id"), let before = parseID(raw) else {
                return .failure(400, "bad_query", "before_id must be a positive integer")
            }
            var limit = Self.channelPageSize
            if let raw = head.queryValue("limit") {
                guard let v = Int(raw), (1...500).contains(v) else {
                    return .failure(400, "bad_query", "limit must be an integer from 1 to 500")
                }
                limit = v
            }
            return try store.read {
                guard try store.channel(id) != nil else { return .failure(404, "not_found", "no such channel") }
                let page = try store.channelMessages(id, through: before - 1, limit: limit)
                let html = Fragments.history(page.messages, channel: id, hasOlder: page.hasOlder)
                return .fragment(html, cursor: try store.maxMessageID())
            }
        case 3 where segments[0] == "channels" && segments[2] == "messages":
            guard let id = parseID(segments[1]) else { return .failure(404, "not_found", "no such channel") }
            let after: Int64, limit: Int
            switch messagesPage(head) {
            case .success(let page): (after, limit) = page
            case .failure(let e): return .failure(400, "bad_query", e.message)
            }
            return try store.read {
                guard let ch = try store.channel(id) else { return .failure(404, "not_found", "no such channel") }
                if try isAhead(after) { return .failure(409, "cursor_ahead", Self.cursorAheadMessage) }
                let rows = try store.channelMessages(id, after: after, limit: limit)
                let cursor = rows.last?.id ?? after
                var html = rows.isEmpty ? "" : Fragments.messages(rows, cursor: cursor)
                // The count is only as current as the messages shown, so it carries the same cursor.
                html += Fragments.count(.channel, id: id, count: ch.messageCount, cursor: cursor)
                return .fragment(html, cursor: cursor)
            }
        default:
            return .failure(404, "not_found", "no fragment at \(head.path)")
        }
    }
}
