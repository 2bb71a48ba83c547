import Foundation
import LivefeedProtocol

/// The JSON API: snapshots carry the cursor (highest message id they reflect) and the database epoch.
extension WorkerServer {
    func api(_ segments: [String], _ head: HTTPRequestHead) throws -> Routed {
        switch segments.count {
        case 1 where segments[0] == "metrics":
            return .json(try snapshot { w in
                let t = try store.totals()
                w.field("messages", t.messages)
                w.field("channels", t.channels)
                w.field("users", t.users)
                return t.lastMessageID
            })
        case 1 where segments[0] == "channels":
            return .json(try snapshot { w in
                w.key("channels")
                w.beginArray()
                for ch in try store.channels() { writeChannel(ch, &w) }
                w.endArray()
                return try store.totals().lastMessageID
            })
        case 1 where segments[0] == "users":
            return .json(try snapshot { w in
                w.key("users")
                w.beginArray()
                for u in try store.users() { writeUser(u, &w) }
                w.endArray()
                return try store.totals().lastMessageID
            })
        case 2 where segments[0] == "users":
            guard let id = parseID(segments[1]) else { return .failure(404, "not_found", "no such user") }
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
        case 2 where segments[0] == "channels":
            guard let id = parseID(segments[1]), let ch = try store.channel(id) else {
                return .failure(404, "not_found", "no such channel")
            }
            return .json(try snapshot { w in
                w.key("channel")
                writeChannel(ch, &w)
                return try store.totals().lastMessageID
            })
        case 3 where segments[0] == "channels" && segments[2] == "messages":
            return try channelMessagesPage(segments[1], head)
        default:
            return .failure(404, "not_found", "no API resource at \(head.path)")
        }
    }

    private func channelMessagesPage(_ idText: String, _ head: HTTPRequestHead) throws -> Routed {
        guard let id = parseID(idText), try store.channel(id) != nil else {
            return .failure(404, "not_found", "no such channel")
        }
        let after: Int64, limit: Int
        switch messagesPage(head) {
        case .success(let page): (after, limit) = page
        case .failure(let e): return .failure(400, "bad_query", e.message)
        }
        if try isAhead(after) { return .failure(409, "cursor_ahead", Self.cursorAheadMessage) }
        // One more row than asked tells whether there is more without a second query.
        let rows = try store.channelMessages(id, after: after, limit: limit + 1)
        let page = rows.prefix(limit)
        var w = JSONWriter(capacity: 256 + page.count * 160)
        w.beginObject()
        w.key("messages")
        w.beginArray()
        for m in page { m.writeJSON(into: &w) }
        w.endArray()
        w.field("cursor", page.last?.id ?? after)
        w.field("epoch", store.epoch)
        w.field("has_more", rows.count > limit)
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

    // MARK: ingest

    func ingest(_ c: Connection, _ head: HTTPRequestHead, _ body: [UInt8]) {
        let keepAlive = head.keepAlive
        // A browser sends Origin on every cross-site POST; a form or a no-cors fetch needs no preflight, so the
        // allow-list of the live endpoints is the only thing between another site and this one's archive.
        guard access.originAllowed(head) else {
            reporter.log(.info, .connectionRefused, [
                "reason": .string("origin_not_allowed"), "status": .int(403), "view": .string("http"),
                "client": .string(c.client), "conn": .int(Int64(bitPattern: c.id)),
            ])
            respond(c, status: 403, json: apiError("origin_not_allowed", "this Origin may not post messages"),
                keepAlive: keepAlive)
            return
        }
        guard access.tokenAccepted(head) else {
            reporter.log(.info, .connectionRefused, [
                "reason": .string("unauthorized"), "status": .int(401), "view": .string("http"),
                "client": .string(c.client), "conn": .int(Int64(bitPattern: c.id)),
            ])
            respond(c, status: 401, contentType: "application/json",
                body: apiError("unauthorized", "a valid access token is required"), keepAlive: keepAlive,
                extraHeaders: [("WWW-Authenticate", "Bearer realm=\"livefeed\"")])
            return
        }
        guard MediaType.isJSON(head.headers["Content-Type"]) else {
            respond(c, status: 415, json: apiError("unsupported_media_type", "send Content-Type: application/json"),
                keepAlive: keepAlive)
            return
        }
        var requestKey: String?
        if let raw = head.headers["Idempotency-Key"] {
            guard let key = IdempotencyKey.validated(raw) else {
                respond(c, status: 400, json: apiError("invalid_idempotency_key",
                    "Idempotency-Key must be 1-\(IdempotencyKey.maxBytes) visible ASCII characters"), keepAlive: keepAlive)
                return
            }
            requestKey = key
        }
        let batch: [NewMessage]
        switch IngestParser.parse(body, maxMessages: config.maxMessagesPerPost) {
        case .failure(let e):
            respond(c, status: 400, json: apiError(e.code, e.message), keepAlive: keepAlive)
            return
        case .success(let b):
            batch = b
        }
        do {
            let result = try store.ingest(batch, requestKey: requestKey, now: Timestamp.nowUnixMilliseconds())
            if !result.replayed { wroteSinceTick = true }
            var w = JSONWriter()
            w.beginObject()
            w.key("ids")
            w.beginArray()
            for id in result.ids { w.value(id) }
            w.endArray()
            w.field("cursor", result.ids.last ?? 0)
            w.field("epoch", store.epoch)
            if result.replayed { w.field("replayed", true) }
            w.endObject()
            // A replay answers 200 with the first ids: nothing was created this time.
            respond(c, status: result.replayed ? 200 : 201, contentType: "application/json", body: w.bytes,
                keepAlive: keepAlive, extraHeaders: result.replayed ? [("Idempotent-Replayed", "true")] : [])
        } catch let e as IngestError {
            switch e {
            case .unknownChannel(let id):
                respond(c, status: 422, json: apiError("unknown_channel", "no channel with id \(id)"), keepAlive: keepAlive)
            case .unknownUser(let id):
                respond(c, status: 422, json: apiError("unknown_user", "no user with id \(id)"), keepAlive: keepAlive)
            case .keyReused:
                respond(c, status: 422, json: apiError("idempotency_key_reused",
                    "this Idempotency-Key was used for other messages in the last 24 hours"), keepAlive: keepAlive)
            }
        } catch let e as SQLiteError where e.isBusy {
            respond(c, status: 503, contentType: "application/json",
                body: apiError("busy", "the database is busy; retry"), keepAlive: keepAlive,
                extraHeaders: [("Retry-After", "1")])
        } catch {
            reporter.log(.error, .ingestFailed, ["error": .string("\(error)")])
            respond(c, status: 500, json: apiError("internal_error", "the messages were not stored"), keepAlive: keepAlive)
        }
    }
}
