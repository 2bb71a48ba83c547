import LivefeedProtocol

/// `POST /api/messages`: stores a batch of messages in one transaction, exactly once per Idempotency-Key.
struct IngestHandler {
    let store: MessageStore
    let access: AccessPolicy
    let config: WorkerConfig
    let reporter: Reporter

    /// The reply, and whether messages were stored (the tick looks at once).
    func answer(_ head: HTTPRequestHead, _ body: [UInt8], client: String, connectionID: UInt64) -> (Reply, stored: Bool) {
        let keepAlive = head.keepAlive
        // A follower's database is a read-only replica: writes belong to the primary (HAProxy routes them there;
        // a client that reached a follower is told where, with 307 so it repeats the same POST and body).
        if config.role == .follower {
            let message = "this host is a read-only follower: send writes to the primary"
            guard let primary = config.primaryURL else {
                return (.error(503, "read_only_follower", message, keepAlive: keepAlive), false)
            }
            let location = primary.hasSuffix("/") ? String(primary.dropLast()) + head.target : primary + head.target
            return (.error(307, "read_only_follower", message + " (\(primary))", keepAlive: keepAlive,
                headers: [("Location", location)]), false)
        }
        // A browser sends Origin on every cross-site POST; a form or a no-cors fetch needs no preflight, so the
        // allow-list of the live endpoints is the only thing between another site and this one's archive.
        guard access.originAllowed(head) else {
            reporter.log(.info, .connectionRefused, [
                "reason": .string("origin_not_allowed"), "status": .int(403), "view": .string("http"),
                "client": .string(client), "conn": .int(Int64(bitPattern: connectionID)),
            ])
            return (.error(403, "origin_not_allowed", "this Origin may not post messages", keepAlive: keepAlive), false)
        }
        guard access.tokenAccepted(head) else {
            reporter.log(.info, .connectionRefused, [
                "reason": .string("unauthorized"), "status": .int(401), "view": .string("http"),
                "client": .string(client), "conn": .int(Int64(bitPattern: connectionID)),
            ])
            return (.error(401, "unauthorized", "a valid access token is required", keepAlive: keepAlive,
                headers: [("WWW-Authenticate", "Bearer realm=\"livefeed\"")]), false)
        }
        guard MediaType.isJSON(head.headers["Content-Type"]) else {
            return (.error(415, "unsupported_media_type", "send Content-Type: application/json", keepAlive: keepAlive), false)
        }
        var requestKey: String?
        if let raw = head.headers["Idempotency-Key"] {
            // One key per request: with two, a retry that sent them in the other order would be another request.
            guard head.headers.values("Idempotency-Key").count == 1, let key = IdempotencyKey.validated(raw) else {
                return (.error(400, "invalid_idempotency_key",
                    "send one Idempotency-Key of 1-\(IdempotencyKey.maxBytes) visible ASCII characters",
                    keepAlive: keepAlive), false)
            }
            requestKey = key
        }
        let batch: [NewMessage]
        switch IngestParser.parse(body, maxMessages: config.maxMessagesPerPost) {
        case .failure(let e):
            return (.error(400, e.code, e.message, keepAlive: keepAlive), false)
        case .success(let b):
            batch = b
        }
        do {
            let result = try store.ingest(batch, requestKey: requestKey, now: Timestamp.nowUnixMilliseconds())
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
            let reply = Reply.json(result.replayed ? 200 : 201, w.bytes, keepAlive: keepAlive,
                headers: result.replayed ? [("Idempotent-Replayed", "true")] : [])
            return (reply, !result.replayed)
        } catch let e as IngestError {
            switch e {
            case .unknownChannel(let id):
                return (.error(422, "unknown_channel", "no channel with id \(id)", keepAlive: keepAlive), false)
            case .unknownUser(let id):
                return (.error(422, "unknown_user", "no user with id \(id)", keepAlive: keepAlive), false)
            case .keyReused:
                return (.error(422, "idempotency_key_reused",
                    "this Idempotency-Key was used for other messages in the last 24 hours", keepAlive: keepAlive), false)
            }
        } catch let e as SQLiteError where e.isBusy {
            return (.error(503, "busy", "the database is busy; retry", keepAlive: keepAlive,
                headers: [("Retry-After", "1")]), false)
        } catch {
            reporter.log(.error, .ingestFailed, ["error": .string("\(error)")])
            return (.error(500, "internal_error", "the messages were not stored", keepAlive: keepAlive), false)
        }
    }
}
