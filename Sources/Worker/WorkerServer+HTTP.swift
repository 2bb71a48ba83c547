import Glibc
import LivefeedProtocol

/// HTTP/1.1 on a handed-over connection: head parsing, bodies by Content-Length, keep-alive, routing.
extension WorkerServer {
    static let maxUnreadAnswerBytes = 256 * 1024
    /// Requests one connection may have answered per loop turn; then it waits for the next turn, behind every other
    /// connection and the fan-out tick, so a client pipelining thousands of requests cannot hold the loop.
    static let requestsPerTurn = 8

    /// Gives every connection that used up its turn another one.
    func serviceHTTPBacklog() {
        guard !httpBacklog.isEmpty else { return }
        let waiting = Array(httpBacklog.values)
        httpBacklog.removeAll(keepingCapacity: true)
        for c in waiting where !c.closed {
            c.awaitingTurn = false
            processHTTP(c)
            if !c.awaitingTurn && c.readPaused && c.out.byteCount <= Self.maxUnreadAnswerBytes && !c.closed {
                c.readPaused = false
                updateInterest(c)
            }
        }
    }

    func receiveHTTP(_ c: Connection, _ chunk: UnsafeRawBufferPointer) {
        if c.requestStartedAt == 0 && chunk.count > 0 { c.requestStartedAt = clock.nowMilliseconds }
        c.readBuffer.append(contentsOf: chunk)
        if c.readBuffer.count > config.maxBodyBytes + 64 * 1024 {
            respond(c, status: 413, json: apiError("body_too_large", "request too large"), keepAlive: false)
            return
        }
        processHTTP(c)
    }

    func processHTTP(_ c: Connection) {
        guard !c.awaitingTurn else { return }
        var served = 0
        while !c.closed && !c.closeAfterFlush && c.mode == .http {
            // A client that pipelines requests but does not read the answers gets no more answers (and no more
            // of its input is read) until it catches up: the answers would otherwise grow without bound.
            if c.out.byteCount > Self.maxUnreadAnswerBytes {
                if !c.readPaused {
                    c.readPaused = true
                    updateInterest(c)
                }
                return
            }
            if c.pendingHead == nil {
                if c.readBuffer.isEmpty { return }
                do {
                    switch try c.headParser.feed(c.readBuffer[...]) {
                    case .needMore:
                        // The parser keeps what it needs of a partial head.
                        c.readBuffer.removeAll(keepingCapacity: true)
                        return
                    case .complete(let head, let used):
                        c.readBuffer.removeFirst(used)
                        c.headParser.reset()
                        if head.isChunked {
                            respond(c, status: 411, json: apiError("length_required", "send a Content-Length body"), keepAlive: false)
                            return
                        }
                        if let length = head.contentLength, length > config.maxBodyBytes {
                            respond(c, status: 413, json: apiError("body_too_large", "body exceeds \(config.maxBodyBytes) bytes"), keepAlive: false)
                            return
                        }
                        c.pendingHead = head
                    }
                } catch {
                    respond(c, status: error.status, json: apiError(error.code, "\(error)"), keepAlive: false)
                    return
                }
            }
            guard let head = c.pendingHead else { return }
            let needed = head.contentLength ?? 0
            if c.readBuffer.count < needed { return }
            if served == Self.requestsPerTurn {
                // Its turn is over: stop reading it (what it sent is kept) until the next loop turn.
                c.awaitingTurn = true
                httpBacklog[c.id] = c
                if !c.readPaused {
                    c.readPaused = true
                    updateInterest(c)
                }
                return
            }
            served += 1
            let body = Array(c.readBuffer.prefix(needed))
            c.readBuffer.removeFirst(needed)
            c.pendingHead = nil
            c.requestsServed += 1
            // The next pipelined request (if its bytes are already here) starts its own clock now.
            c.requestStartedAt = c.readBuffer.isEmpty ? 0 : clock.nowMilliseconds
            route(c, head, body)
        }
    }

    // MARK: responses

    func respond(
        _ c: Connection, status: Int, contentType: String, body: [UInt8], keepAlive: Bool,
        headOnly: Bool = false, extraHeaders: [(String, String)] = [], cacheControl: String = "no-store"
    ) {
        var headers = HTTPHeaders()
        headers.add("Content-Type", contentType)
        headers.add("Cache-Control", cacheControl)
        for (k, v) in extraHeaders { headers.add(k, v) }
        let response = HTTPResponse(status: status, headers: headers, body: body)
        let keep = keepAlive && !draining
        send(c, response.encode(keepAlive: keep, headOnly: headOnly))
        if !keep {
            c.closeReason = status >= 400 ? "http_\(status)" : "http_done"
            c.closeAfterFlush = true
            if c.out.isEmpty { close(c, reason: c.closeReason) }
        }
    }

    func respond(_ c: Connection, status: Int, json: [UInt8], keepAlive: Bool, headOnly: Bool = false) {
        respond(c, status: status, contentType: "application/json", body: json, keepAlive: keepAlive, headOnly: headOnly)
    }

    func apiError(_ code: String, _ message: String) -> [UInt8] {
        Envelope.errorBody(code: code, message: message)
    }

    // MARK: routing

    private func route(_ c: Connection, _ head: HTTPRequestHead, _ body: [UInt8]) {
        let keepAlive = head.keepAlive
        let headOnly = head.method == "HEAD"
        func fail(_ family: Route.Family, _ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
            switch family {
            case .json:
                respond(c, status: status, contentType: "application/json", body: apiError(code, message),
                    keepAlive: keepAlive, headOnly: headOnly, extraHeaders: headers)
            case .html:
                respond(c, status: status, contentType: "text/html; charset=utf-8",
                    body: Array(Pages.errorPage(status: status, message: message).utf8), keepAlive: keepAlive,
                    headOnly: headOnly, extraHeaders: headers)
            }
        }
        let family: Route.Family
        let answer: Answer
        do {
            switch Route(method: head.method, path: head.path) {
            case .live(let live):
                return upgrade(c, head, to: live)
            case .unknownLive(let code, let message):
                return refuseUpgrade(c, 404, code, message)
            case .ingest:
                return ingest(c, head, body)
            case .asset(let name):
                return serveStatic(c, head, name: name)
            case .notFound(let f, let message):
                return fail(f, 404, "not_found", message)
            case .methodNotAllowed(let f, let allow, let message):
                return fail(f, 405, "method_not_allowed", message, headers: [("Allow", allow)])
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
            reporter.log(.error, .requestFailed, ["path": .string(head.path), "error": .string("\(error)")])
            let family: Route.Family = head.path.hasPrefix("/api/") ? .json : .html
            return fail(family, 500, "internal_error", "the request could not be served")
        }
        switch answer {
        case .fragment(let html, let cursor):
            respond(c, status: 200, contentType: "text/html; charset=utf-8", body: Array(html.utf8),
                keepAlive: keepAlive, headOnly: headOnly,
                extraHeaders: [("X-Livefeed-Cursor", String(cursor)), ("X-Livefeed-Epoch", store.epoch)])
        case .html(let html):
            respond(c, status: 200, contentType: "text/html; charset=utf-8", body: Array(html.utf8),
                keepAlive: keepAlive, headOnly: headOnly)
        case .json(let json):
            respond(c, status: 200, json: json, keepAlive: keepAlive, headOnly: headOnly)
        case .failure(let status, let code, let message):
            fail(family, status, code, message)
        }
    }
}
