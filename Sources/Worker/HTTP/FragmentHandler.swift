import LivefeedProtocol

/// `/fragments/...`: what the pages poll when live is unavailable. The same fragments as `format=html` frames,
/// with the same cursor and epoch, so falling back to polling and coming back loses nothing.
struct FragmentHandler {
    let store: MessageStore
    let dashboard: DashboardFeed

    func answer(_ fragment: Route.Fragment, _ head: HTTPRequestHead) throws -> Answer {
        switch fragment {
        case .metrics:
            return try store.read {
                let t = try store.totals()
                let html = Fragments.totals(
                    messages: t.messages, channels: t.channels, users: t.users, cursor: t.lastMessageID, live: true)
                return .fragment(html, cursor: t.lastMessageID)
            }
        case .dashboard:
            return try store.read {
                let d = try dashboard.current(store).data
                return .fragment(DashboardFeed.html(d), cursor: d.totals.lastMessageID)
            }
        case .channels:
            return try store.read {
                let cursor = try store.maxMessageID()
                let html = try store.channels().map {
                    Fragments.count(.channel, id: $0.id, count: $0.messageCount, cursor: cursor)
                }.joined()
                return .fragment(html, cursor: cursor)
            }
        case .users:
            return try store.read {
                let cursor = try store.maxMessageID()
                let html = try store.users().map {
                    Fragments.count(.user, id: $0.id, count: $0.messageCount, cursor: cursor)
                }.joined()
                return .fragment(html, cursor: cursor)
            }
        case .user(let id):
            return try store.read {
                guard let u = try store.user(id) else { return .failure(404, "not_found", "no such user") }
                let cursor = try store.maxMessageID()
                return .fragment(
                    Fragments.count(.user, id: u.id, count: u.messageCount, cursor: cursor), cursor: cursor)
            }
        case .userMessages(let id):
            return try store.read {
                guard try store.user(id) != nil else { return .failure(404, "not_found", "no such user") }
                let cursor = try store.maxMessageID()
                let html =
                    Fragments.recent(
                        id: "user-messages", try store.recentUserMessages(id, limit: 20),
                        showChannel: true, cursor: cursor, oob: true)
                    + Fragments.userChannels(try store.userChannels(id, limit: 6), cursor: cursor, oob: true)
                return .fragment(html, cursor: cursor)
            }
        case .channelHistory(let id):
            guard case .success(let before?) = Query.beforeID(head) else {
                return .failure(400, "bad_query", "before_id must be a positive integer")
            }
            let limit: Int
            switch Query.limit(head, default: PageHandler.channelPageSize) {
            case .success(let v): limit = v
            case .failure(let e): return .failure(400, "bad_query", e.message)
            }
            return try store.read {
                guard try store.channel(id) != nil else { return .failure(404, "not_found", "no such channel") }
                let page = try store.channelMessages(id, through: before - 1, limit: limit)
                let html = Fragments.history(page.messages, channel: id, hasOlder: page.hasOlder)
                return .fragment(html, cursor: try store.maxMessageID())
            }
        case .channelMessages(let id):
            let after: Int64, limit: Int
            switch Query.messagesPage(head) {
            case .success(let page): (after, limit) = page
            case .failure(let e): return .failure(400, "bad_query", e.message)
            }
            return try store.read {
                guard let ch = try store.channel(id) else { return .failure(404, "not_found", "no such channel") }
                if try store.isAhead(after) { return .failure(409, "cursor_ahead", MessageStore.cursorAheadMessage) }
                // Cut to the page's byte budget, the poll after this one starts after the last message shown.
                let all = try store.channelMessages(id, after: after, limit: limit)
                let rows = all.prefix(MessageStore.fitting(all))
                let cursor = rows.last?.id ?? after
                var html = rows.isEmpty ? "" : Fragments.messages(rows, cursor: cursor)
                // The count is only as current as the messages shown, so it carries the same cursor.
                html += Fragments.count(.channel, id: id, count: ch.messageCount, cursor: cursor)
                return .fragment(html, cursor: cursor)
            }
        }
    }
}
