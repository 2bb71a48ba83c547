import LivefeedProtocol

/// HTTP/1.1 on handed-over connections: heads parsed as bytes arrive, bodies by Content-Length, keep-alive, a fair
/// turn per connection, and every request routed once (`Route`) to the handler that answers it.
final class HTTPService {
    static let maxUnreadAnswerBytes = 256 * 1024
    /// Requests one connection may have answered per loop turn; then it waits for the next turn, behind every other
    /// connection and the fan-out tick, so a client pipelining thousands of requests cannot hold the loop.
    static let requestsPerTurn = 8

    private let connections: Connections
    private let live: LiveService
    private let reporter: Reporter
    private let clock: MonotonicClock
    private let config: WorkerConfig
    private let store: MessageStore
    private let pages: PageHandler
    private let fragments: FragmentHandler
    private let api: APIHandler
    private let ingest: IngestHandler
    private let assets: StaticHandler
    /// Called after a post stored messages: the tick looks at once rather than at its next poll.
    var stored: () -> Void = {}
    /// Set by the drain: every answer closes its connection.
    var draining = false
    /// Connections that used their turn with requests still waiting: served again next loop turn.
    private var backlog: [UInt64: Connection] = [:]
    /// Group commit: the ingest requests one connection has waiting in one `process` call are stored in one write
    /// transaction (a savepoint each) and answered, in order, after its one commit: pipelined one-message POSTs
    /// share an fdatasync instead of paying one each. The answers held for `groupFor` until then, and whether
    /// each stored messages.
    private var held: [(reply: Reply, stored: Bool)] = []
    private var groupFor: Connection?

    init(
        connections: Connections, live: LiveService, reporter: Reporter, clock: MonotonicClock, config: WorkerConfig,
        store: MessageStore, assets: StaticAssets, access: AccessPolicy, dashboard: DashboardFeed
    ) {
        self.connections = connections
        self.live = live
        self.reporter = reporter
        self.clock = clock
        self.config = config
        self.store = store
        pages = PageHandler(store: store, assets: assets, dashboard: dashboard)
        fragments = FragmentHandler(store: store, dashboard: dashboard)
        api = APIHandler(store: store)
        ingest = IngestHandler(store: store, access: access, config: config, reporter: reporter)
        self.assets = StaticHandler(assets: assets)
    }

    var hasBacklog: Bool { !backlog.isEmpty }

    func receive(_ c: Connection, _ h: HTTPExchange, _ chunk: UnsafeRawBufferPointer) {
        if h.requestStartedAt == 0 && chunk.count > 0 { h.requestStartedAt = clock.nowMilliseconds }
        h.readBuffer.append(contentsOf: chunk)
        if h.readBuffer.count > config.maxBodyBytes + 64 * 1024 {
            return respond(c, .error(413, "body_too_large", "request too large", keepAlive: false))
        }
        process(c, h)
    }

    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Answers the complete requests `c` has sent, up to its turn; ingest requests among them commit together.
    func process(_ c: Connection, _ h: HTTPExchange) {
        processRequests(c, h)
        endGroup()
    }

    private func processRequests(_ c: Connection, _ h: HTTPExchange) {
        guard !h.awaitingTurn else { return }
        var served = 0
        while !c.closed, case .http(let current) = c.phase, current === h {
            // A client that pipelines requests but does not read the answers gets no more answers (and no more
            // of its input is read) until it catches up: the answers would otherwise grow without bound.
            if c.out.byteCount > Self.maxUnreadAnswerBytes { return connections.pauseReading(c, true) }
            if h.pendingHead == nil {
                if h.readBuffer.isEmpty { return }
                do {
                    switch try h.parser.feed(h.readBuffer[...]) {
                    case .needMore:
                        // The parser keeps what it needs of a partial head.
                        h.readBuffer.removeAll(keepingCapacity: true)
                        return
                    case .complete(let head, let used):
                        h.readBuffer.removeFirst(used)
                        h.parser.reset()
                        if head.isChunked {
                            return respond(c, .error(411, "length_required", "send a Content-Length body", keepAlive: false))
                        }
                        if let length = head.contentLength, length > config.maxBodyBytes {
                            return respond(c, .error(413, "body_too_large", "body exceeds \(config.maxBodyBytes) bytes",
                                keepAlive: false))
                        }
                        h.pendingHead = head
                        // RFC 9110 §10.1.1: a client that asked whether to send its body waits for a 100 (or a final
                        // answer) before sending it; without one it waited a second (curl) or until we timed it out.
                        if head.versionMinor >= 1, let length = head.contentLength, length > h.readBuffer.count,
                            head.headers.containsToken("100-continue", in: "Expect")
                        {
                            if groupFor === c { endGroup() }  // answers held for earlier requests go first
                            connections.send(c, Self.continueLine)
                        }
                    }
                } catch {
                    return respond(c, .error(error.status, error.code, error.message, keepAlive: false))
                }
            }
            guard let head = h.pendingHead else { return }
            let needed = head.contentLength ?? 0
            if h.readBuffer.count < needed { return }
            if served == Self.requestsPerTurn {
                // Its turn is over: stop reading it (what it sent is kept) until the next loop turn.
                h.awaitingTurn = true
                backlog[c.id] = c
                return connections.pauseReading(c, true)
            }
            served += 1
            let body = Array(h.readBuffer.prefix(needed))
            h.readBuffer.removeFirst(needed)
            h.pendingHead = nil
            c.requestsServed += 1
            // The next pipelined request (if its bytes are already here) starts its own clock now.
            h.requestStartedAt = h.readBuffer.isEmpty ? 0 : clock.nowMilliseconds
            route(c, head, body)
        }
    }

    /// Gives every connection that used up its turn another one.
    func serviceBacklog() {
        guard !backlog.isEmpty else { return }
        let waiting = Array(backlog.values)
        backlog.removeAll(keepingCapacity: true)
        for c in waiting where !c.closed {
            guard let h = c.http else { continue }
            h.awaitingTurn = false
            process(c, h)
            if !h.awaitingTurn && c.out.byteCount <= Self.maxUnreadAnswerBytes { connections.pauseReading(c, false) }
        }
    }

    // MARK: routing

    private func route(_ c: Connection, _ head: HTTPRequestHead, _ body: [UInt8]) {
        let keepAlive = head.keepAlive
        let headOnly = head.method == "HEAD"
        let family: Route.Family
        let answer: Answer
        do {
            let routed = Route(method: head.method, path: head.path)
            // Anything but a POST reads the database on its own and answers after the held answers.
            if case .ingest = routed {} else { endGroup() }
            switch routed {
            case .live(let route):
                return live.upgrade(c, head, to: route)
            case .unknownLive(let code, let message):
                return refuseUpgrade(c, 404, code, message, headOnly: head.method == "HEAD")
            case .ingest:
                return ingestGrouped(c, head, body)
            case .asset(let name):
                return respond(c, assets.answer(name, head))
            case .notFound(let f, let message):
                return respond(c, Self.failure(f, 404, "not_found", message, head))
            case .methodNotAllowed(let f, let allow, let message):
                return respond(c, Self.failure(f, 405, "method_not_allowed", message, head, headers: [("Allow", allow)]))
            case .page(let page):
                family = .html
                answer = try pages.answer(page, head)
            case .fragment(let fragment):
                family = .html
                answer = try fragments.answer(fragment, head)
            case .api(let resource):
                family = .json
                answer = try api.answer(resource, head)
            }
        } catch {
            let family: Route.Family = head.path.hasPrefix("/api/") ? .json : .html
            func fail(_ status: Int, _ code: String, _ message: String, _ headers: [(String, String)] = []) {
                respond(c, Self.failure(family, status, code, message, head, headers: headers))
            }
            // A follower whose replica cannot be read (the replica store is down, a mount went away) is not broken:
            // another host, or this one in a moment, can answer.
            if store.readOnly {
                reporter.log(.warning, .requestFailed, ["path": .string(head.path), "error": .string("\(error)")])
                return fail(503, "replica_unavailable", "this follower cannot read its replica right now; retry", [("Retry-After", "1")])
            }
            reporter.log(.error, .requestFailed, ["path": .string(head.path), "error": .string("\(error)")])
            return fail(500, "internal_error", "the request could not be served")
        }
        let html = "text/html; charset=utf-8"
        switch answer {
        case .fragment(let text, let cursor):
            respond(c, Reply(status: 200, contentType: html, body: Array(text.utf8),
                headers: [("X-Livefeed-Cursor", String(cursor)), ("X-Livefeed-Epoch", store.epoch)],
                headOnly: headOnly, keepAlive: keepAlive))
        case .html(let text):
            respond(c, Reply(status: 200, contentType: html, body: Array(text.utf8), headOnly: headOnly, keepAlive: keepAlive))
        case .json(let json):
            respond(c, Reply(status: 200, contentType: "application/json", body: json, headOnly: headOnly, keepAlive: keepAlive))
        case .failure(let status, let code, let message):
            respond(c, Self.failure(family, status, code, message, head))
        }
    }

    private static func failure(
        _ family: Route.Family, _ status: Int, _ code: String, _ message: String, _ head: HTTPRequestHead,
        headers: [(String, String)] = []
    ) -> Reply {
        var reply: Reply
        switch family {
        case .json:
            reply = .error(status, code, message, keepAlive: head.keepAlive, headers: headers)
        case .html:
            reply = Reply(status: status, contentType: "text/html; charset=utf-8",
                body: Array(Pages.errorPage(status: status, message: message).utf8), headers: headers,
                keepAlive: head.keepAlive)
        }
        reply.headOnly = head.method == "HEAD"
        return reply
    }

    // MARK: group commit

    /// Stores a POST inside the connection's group and holds its answer for `endGroup`; alone (stored and answered
    /// at once) when its answer closes the connection (`Connection: close`, a drain), so that nothing behind a
    /// close is stored without an answer.
    private func ingestGrouped(_ c: Connection, _ head: HTTPRequestHead, _ body: [UInt8]) {
        guard head.keepAlive && !draining else {
            endGroup()
            let (reply, stored) = ingest.answer(head, body, client: c.client, connectionID: c.id)
            if stored { self.stored() }
            return respond(c, stampedCommit(reply, at: clock.nowNanoseconds))
        }
        if groupFor !== c {
            endGroup()
            groupFor = c
            store.db.beginGroup()
        }
        let (reply, stored) = ingest.answer(head, body, client: c.client, connectionID: c.id)
        held.append((reply, stored))
    }

    /// Commits the group and sends its held answers in order. If the commit failed, nothing of the group was
    /// stored: every success among them becomes the error, replays included (one may name ids stored earlier in
    /// the same group); refusals (4xx) stand.
    private func endGroup() {
        guard let c = groupFor else { return }
        groupFor = nil
        var failure: Reply?
        do {
            try store.endGroup()
        } catch let e as SQLiteError where e.isBusy {
            failure = .error(503, "busy", "the database is busy; retry", keepAlive: true, headers: [("Retry-After", "1")])
        } catch {
            reporter.log(.error, .ingestFailed, ["error": .string("\(error)")])
            failure = .error(500, "internal_error", "the messages were not stored", keepAlive: true)
        }
        let committedAt = config.commitClock ? clock.nowNanoseconds : 0
        let answers = held
        held.removeAll(keepingCapacity: true)
        var anyStored = false
        for (reply, stored) in answers {
            if let failure, (200..<300).contains(reply.status) {
                respond(c, failure)
            } else {
                anyStored = anyStored || stored
                respond(c, stampedCommit(reply, at: committedAt))
            }
        }
        if anyStored { self.stored() }
    }

    /// `--commit-clock`: a 201 says when its commit ended (`at`, read after the group's COMMIT and its
    /// fdatasync, not where the messages were inserted: inside a group that is only a savepoint).
    private func stampedCommit(_ reply: Reply, at committed: @autoclosure () -> UInt64) -> Reply {
        guard config.commitClock, reply.status == 201 else { return reply }
        var stamped = reply
        stamped.headers.append(("Livefeed-Commit-Clock", String(committed())))
        return stamped
    }

    // MARK: responses

    /// A refused live upgrade: logged (the supervisor's refusal counts come from these), answered, and closed.
    /// `headOnly`: the request was HEAD, whose answer carries no content (RFC 9110 §9.3.2), refusals included.
    func refuseUpgrade(
        _ c: Connection, _ status: Int, _ code: String, _ message: String, headers: [(String, String)] = [],
        headOnly: Bool = false
    ) {
        reporter.log(.info, .connectionRefused, [
            "reason": .string(code), "status": .int(Int64(status)), "view": .string(c.handedView.rawValue),
            "client": .string(c.client), "conn": .int(Int64(bitPattern: c.id)),
        ])
        var reply = Reply.error(status, code, message, keepAlive: false, headers: headers)
        reply.headOnly = headOnly
        respond(c, reply)
    }

    func respond(_ c: Connection, _ reply: Reply) {
        if groupFor === c { endGroup() }  // the held answers go first
        var headers = HTTPHeaders()
        headers.add("Content-Type", reply.contentType)
        headers.add("Cache-Control", reply.cacheControl)
        for (k, v) in reply.headers { headers.add(k, v) }
        let keep = reply.keepAlive && !draining
        connections.send(
            c, HTTPResponse(status: reply.status, headers: headers, body: reply.body).encode(keepAlive: keep, headOnly: reply.headOnly))
        if !keep {
            connections.beginClosing(c, Connection.Closing(
                reason: reply.status >= 400 ? "http_\(reply.status)" : "http_done", deadline: nil, session: nil,
                whenFlushed: true))
        }
    }
}
