import LivefeedProtocol

/// The JSON API: snapshots carry the cursor (highest message id they reflect) and the database epoch.
struct APIHandler {
    let store: MessageStore

    func answer(_ resource: Route.API, _ head: HTTPRequestHead) throws -> Answer {
        switch resource {
        case .metrics:
            return .json(try snapshot { w in
                let t = try store.totals()
                w.field("messages", t.messages)
                w.field("channels", t.channels)
                w.field("users", t.users)
                return t.lastMessageID
            })
        case .channels:
            let list: (after: String?, limit: Int)
            switch Query.listPage(head) {
            case .success(let v): list = v
            case .failure(let e): return .failure(400, "bad_query", e.message)
            }
            return .json(try snapshot { w in
                let page = try store.channelPage(after: list.after, limit: list.limit)
                w.key("channels")
                w.beginArray()
                for ch in page.rows { writeChannel(ch, &w) }
                w.endArray()
                w.field("has_more", page.hasMore)
                return try store.totals().lastMessageID
            })
        case .users:
            let list: (after: String?, limit: Int)
            switch Query.listPage(head) {
            case .success(let v): list = v
            case .failure(let e): return .failure(400, "bad_query", e.message)
            }
            return .json(try snapshot { w in
                let page = try store.userPage(after: list.after, limit: list.limit)
                w.key("users")
                w.beginArray()
                for u in page.rows { writeUser(u, &w) }
                w.endArray()
                w.field("has_more", page.hasMore)
                return try store.totals().lastMessageID
            })
        case .user(let id):
            guard try store.user(id) != nil else { return .failure(404, "not_found", "no such user") }
            return .json(try snapshot { w in
                guard let u = try store.user(id) else { return 0 }
                w.key("user")
                writeUser(u, &w)
                w.key("recent_messages")
                w.beginArray()
                for m in try store.recentUserMessages(id, limit: 20) { m.writeJSON(into: &w) }
                w.endArray()
                return try store.totals().lastMessageID
            })
        case .channel(let id):
            guard let ch = try store.channel(id) else {
                return .failure(404, "not_found", "no such channel")
            }
            return .json(try snapshot { w in
                w.key("channel")
                writeChannel(ch, &w)
                return try store.totals().lastMessageID
            })
        case .channelMessages(let id):
            return try channelMessagesPage(id, head)
        }
    }

    private func channelMessagesPage(_ id: Int64, _ head: HTTPRequestHead) throws -> Answer {
        guard try store.channel(id) != nil else {
            return .failure(404, "not_found", "no such channel")
        }
        let after: Int64, limit: Int
        switch Query.messagesPage(head) {
        case .success(let page): (after, limit) = page
        case .failure(let e): return .failure(400, "bad_query", e.message)
        }
        if try store.isAhead(after) { return .failure(409, "cursor_ahead", MessageStore.cursorAheadMessage) }
        // One more row than asked tells whether there is more without a second query; a page whose texts would pass
        // the byte budget ends early, with has_more, and the next one starts after it.
        let rows = try store.channelMessages(id, after: after, limit: limit + 1)
        let page = rows.prefix(MessageStore.fitting(rows.prefix(limit)))
        var w = JSONWriter(capacity: 256 + page.count * 160)
        w.beginObject()
        w.key("messages")
        w.beginArray()
        for m in page { m.writeJSON(into: &w) }
        w.endArray()
        w.field("cursor", page.last?.id ?? after)
        w.field("epoch", store.epoch)
        w.field("has_more", rows.count > page.count)
        w.endObject()
        return .json(w.bytes)
    }

    /// Writes an object whose fields `body` adds, plus `cursor` and `epoch`, from one read transaction so
    /// counts and cursor agree.
    private func snapshot(_ body: (inout JSONWriter) throws -> Int64) throws -> [UInt8] {
        try store.read {
            var w = JSONWriter(capacity: 1024)
            w.beginObject()
            let cursor = try body(&w)
            w.field("cursor", cursor)
            w.field("epoch", store.epoch)
            w.endObject()
            return w.bytes
        }
    }

    private func writeChannel(_ ch: ChannelRow, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", ch.id)
        w.field("name", ch.name)
        w.field("message_count", ch.messageCount)
        w.field("last_message_id", ch.lastMessageID)
        w.endObject()
    }

    private func writeUser(_ u: UserRow, _ w: inout JSONWriter) {
        w.beginObject()
        w.field("id", u.id)
        w.field("name", u.name)
        w.field("message_count", u.messageCount)
        w.field("last_message_id", u.lastMessageID)
        w.endObject()
    }
}
