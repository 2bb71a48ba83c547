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
        let segments = head.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let isAPI = segments.first == "api"
        func fail(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
            if isAPI || segments.first == "live" {
                respond(c, status: status, contentType: "application/json", body: apiError(code, message),
                    keepAlive: keepAlive, headOnly: head.method == "HEAD", extraHeaders: headers)
            } else {
                respond(c, status: status, contentType: "text/html; charset=utf-8",
                    body: Array(Pages.errorPage(status: status, message: message).utf8), keepAlive: keepAlive,
                    headOnly: head.method == "HEAD", extraHeaders: headers)
            }
        }

        if segments.first == "live" {
            upgrade(c, head, segments: Array(segments.dropFirst()))
            return
        }
        if head.method == "POST" {
            if segments == ["api", "messages"] {
                ingest(c, head, body)
            } else {
                fail(405, "method_not_allowed", "POST is only accepted on /api/messages", headers: [("Allow", "GET, HEAD")])
            }
            return
        }
        guard head.method == "GET" || head.method == "HEAD" else {
            let allow = segments == ["api", "messages"] ? "POST" : "GET, HEAD"
            fail(405, "method_not_allowed", "\(head.method) is not supported here", headers: [("Allow", allow)])
            return
        }
        let headOnly = head.method == "HEAD"
        if segments.first == "static" {
            serveStatic(c, head, segments: Array(segments.dropFirst()))
            return
        }
        do {
            let result: Routed
            if isAPI {
                result = try api(Array(segments.dropFirst()), head)
            } else if segments.first == "fragments" {
                result = try fragment(Array(segments.dropFirst()), head)
            } else {
                result = try page(segments, head)
            }
            switch result {
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
                fail(status, code, message)
            }
        } catch {
            reporter.log(.error, .requestFailed, ["path": .string(head.path), "error": .string("\(error)")])
            fail(500, "internal_error", "the request could not be served")
        }
    }

    enum Routed {
        case html(String)
        /// An HTML fragment for polling, with its cursor (also sent as X-Livefeed-Cursor and X-Livefeed-Epoch).
        case fragment(String, cursor: Int64)
        case json([UInt8])
        case failure(Int, String, String)
    }

    /// Parses an id path segment: a positive decimal integer.
    func parseID(_ s: String) -> Int64? {
        guard let v = Int64(s), v > 0, s.first != "+" else { return nil }
        return v
    }

    /// Parses `after_id`: absent means nil; present must be a non-negative integer.
    func afterID(_ head: HTTPRequestHead) -> Result<Int64?, QueryError> {
        guard let raw = head.queryValue("after_id") else { return .success(nil) }
        guard let v = Int64(raw), v >= 0, raw.first != "+" else { return .failure(QueryError("after_id must be a non-negative integer")) }
        return .success(v)
    }

    /// Parses `limit` for paged answers: 1 to 500, 100 when absent.
    func pageLimit(_ head: HTTPRequestHead) -> Result<Int, QueryError> {
        guard let raw = head.queryValue("limit") else { return .success(100) }
        guard let v = Int(raw), (1...500).contains(v) else {
            return .failure(QueryError("limit must be an integer from 1 to 500"))
        }
        return .success(v)
    }

    /// `after_id` (default 0) and `limit` of a messages page, shared by the JSON API and its polling fragment so
    /// both read the same query the same way.
    func messagesPage(_ head: HTTPRequestHead) -> Result<(after: Int64, limit: Int), QueryError> {
        afterID(head).flatMap { after in pageLimit(head).map { (after ?? 0, $0) } }
    }

    struct QueryError: Error {
        var message: String
        init(_ m: String) { message = m }
    }
}
