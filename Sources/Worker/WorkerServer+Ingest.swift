import Foundation
import LivefeedProtocol

/// `POST /api/messages`: stores a batch of messages, exactly once per Idempotency-Key.
extension WorkerServer {
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
