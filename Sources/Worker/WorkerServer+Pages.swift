import LivefeedProtocol

extension WorkerServer {
    func page(_ segments: [String], _ head: HTTPRequestHead) throws -> Routed {
        switch segments.count {
        case 0:
            let recent = try store.recentMessages(limit: 20)
            return .html(Pages.dashboard(totals: try store.totals(), channels: try store.channels(), recent: recent))
        case 1 where segments[0] == "channels":
            return .html(Pages.channels(try store.channels()))
        case 1 where segments[0] == "users":
            return .html(Pages.users(try store.users()))
        case 2 where segments[0] == "channels":
            guard let id = parseID(segments[1]), let ch = try store.channel(id) else {
                return .failure(404, "not_found", "no such channel")
            }
            // The newest 50, oldest first; the cursor is the channel's newest id so live picks up after it.
            let start = try store.channelMessagesBefore(id, limit: 50)
            let messages = try store.channelMessages(id, after: start, limit: 50)
            return .html(Pages.channel(ch, messages: messages, cursor: messages.last?.id ?? start, epoch: store.epoch))
        case 2 where segments[0] == "users":
            guard let id = parseID(segments[1]), let u = try store.user(id) else {
                return .failure(404, "not_found", "no such user")
            }
            return .html(Pages.user(u, recent: try store.recentUserMessages(id, limit: 20)))
        default:
            return .failure(404, "not_found", "no page at \(head.path)")
        }
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
        case 2 where segments[0] == "users":
            guard let id = parseID(segments[1]) else { return .failure(404, "not_found", "no such user") }
            return try store.read {
                guard let u = try store.user(id) else { return .failure(404, "not_found", "no such user") }
                let cursor = try store.maxMessageID()
                return .fragment(Fragments.count(.user, id: u.id, count: u.messageCount, cursor: cursor), cursor: cursor)
            }
        case 3 where segments[0] == "channels" && segments[2] == "messages":
            guard let id = parseID(segments[1]) else { return .failure(404, "not_found", "no such channel") }
            var after: Int64 = 0
            switch afterID(head) {
            case .success(let v): after = v ?? 0
            case .failure(let e): return .failure(400, "bad_query", e.message)
            }
            var limit = 100
            if let raw = head.queryValue("limit") {
                guard let v = Int(raw), (1...500).contains(v) else {
                    return .failure(400, "bad_query", "limit must be an integer from 1 to 500")
                }
                limit = v
            }
            return try store.read {
                guard let ch = try store.channel(id) else { return .failure(404, "not_found", "no such channel") }
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
