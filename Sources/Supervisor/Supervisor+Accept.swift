import Glibc
import LivefeedProtocol

/// The door: accept, peek at the request head without consuming it, classify, hand over or answer.
extension Supervisor {
    func acceptAll() {
        guard let listener else { return }
        // Bounded per wakeup so a flood of connections cannot starve workers' records and signals.
        for _ in 0..<256 {
            let accepted: (FileDescriptor, SocketAddress?)?
            do {
                accepted = try listener.accept()
            } catch {
                if error.errno == EMFILE || error.errno == ENFILE {
                    metrics.refused["descriptors_exhausted", default: 0] += 1
                    journal.emit(.warning, "accept_paused", ["error": .string("\(error)")])
                } else if error.errno != ECONNABORTED {
                    journal.emit(.warning, "accept_failed", ["error": .string("\(error)")])
                }
                return
            }
            guard let (fd, peer) = accepted else { return }
            let id = nextConnectionID
            nextConnectionID += 1
            let p = PendingConnection(id: id, fd: fd, client: peer, acceptedAt: clock.nowMilliseconds)
            do {
                // Edge-triggered: a peeked-but-incomplete head stays readable, so level-triggered would spin.
                try epoll.add(fd, events: [.readable, .readHangup, .edgeTriggered], token: id)
            } catch {
                fd.close()
                continue
            }
            pending[id] = p
            advance(p)
        }
    }

    /// Peeks at what the client has sent so far and acts once the head is complete.
    func advance(_ p: PendingConnection) {
        let outcome: IOResult<Int>
        do {
            outcome = try peekBuffer.withUnsafeMutableBytes { raw throws(SystemError) in try p.fd.peek(into: raw) }
        } catch {
            dropPending(p, reason: "peek_failed")
            return
        }
        guard case .done(let n) = outcome else { return }
        if n == 0 {
            dropPending(p, reason: "closed_before_request")
            return
        }
        var parser = RequestHeadParser(limits: .init(maxBytes: config.maxHeadBytes))
        do throws(HTTPHeadError) {
            switch try parser.feed(peekBuffer[0..<n]) {
            case .needMore:
                if n > config.maxHeadBytes { refuse(p, status: 431, reason: "head_too_large") }
            case .complete(let head, let used):
                route(p, head, headBytes: used)
            }
        } catch {
            refuse(p, status: error.status, reason: "bad_request")
        }
    }

    private func route(_ p: PendingConnection, _ head: HTTPRequestHead, headBytes: Int) {
        switch ViewClassifier.classify(path: head.path) {
        case .supervisor(let endpoint):
            answer(p, endpoint, head, headBytes: headBytes)
        case .worker(let view):
            handOff(p, view: view)
        }
    }

    private func handOff(_ p: PendingConnection, view: ConnectionView) {
        // The worker's copy shares this open file description: deregister before closing ours, or epoll keeps
        // reporting the worker's socket under our stale token.
        epoll.remove(p.fd)
        pending[p.id] = nil
        if !stopping {
            let record = RecordCodec.encode(.handoff(connectionID: p.id, view: view, client: p.client))
            for slot in workers.handoffOrder() {
                guard let control = slot.control else { continue }
                do {
                    guard case .done = try FDPassing.send(on: control, record, descriptor: p.fd) else { continue }
                } catch {
                    continue
                }
                slot.connections.insert(p.id)
                handed[p.id] = Handed(view: view, worker: slot.index, client: p.client, handedAt: clock.nowMilliseconds)
                metrics.accepted[view, default: 0] += 1
                p.fd.close()
                return
            }
        }
        writeAndClose(p, status: 503, reason: "no_worker", body: errorJSON("unavailable", "no worker can take this connection; retry"),
            contentType: "application/json", extraHeaders: [("Retry-After", "1")])
    }

    /// Refuses at the door with an HTTP error (bad head, too large, too slow).
    func refuse(_ p: PendingConnection, status: Int, reason: String) {
        epoll.remove(p.fd)
        pending[p.id] = nil
        writeAndClose(p, status: status, reason: reason, body: errorJSON(reason, HTTPResponse.reasonPhrase(status)),
            contentType: "application/json", extraHeaders: [])
    }

    func dropPending(_ p: PendingConnection, reason: String) {
        epoll.remove(p.fd)
        pending[p.id] = nil
        p.fd.close()
    }

    func expirePending(now: UInt64) {
        guard !pending.isEmpty else { return }
        for p in Array(pending.values) where now - p.acceptedAt >= config.headTimeoutMilliseconds {
            refuse(p, status: 408, reason: "head_timeout")
        }
    }

    func errorJSON(_ code: String, _ message: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("code", code)
        w.field("message", message)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// Writes a short response and closes. The request bytes are read first: closing a socket with unread
    /// input makes the kernel send RST, which can destroy the response before the client reads it.
    func writeAndClose(
        _ p: PendingConnection, status: Int, reason: String, body: [UInt8], contentType: String,
        extraHeaders: [(String, String)]
    ) {
        if status >= 400 {
            metrics.refused[reason, default: 0] += 1
            journal.emit(status >= 500 ? .warning : .info, "connection_refused", [
                "reason": .string(reason), "status": .int(Int64(status)), "client": .string(p.client),
                "conn": .int(Int64(p.id)),
            ])
        }
        var headers = HTTPHeaders()
        headers.add("Content-Type", contentType)
        headers.add("Cache-Control", "no-store")
        for (k, v) in extraHeaders { headers.add(k, v) }
        let bytes = HTTPResponse(status: status, headers: headers, body: body).encode(keepAlive: false)
        _ = try? peekBuffer.withUnsafeMutableBytes { raw throws(SystemError) in try p.fd.read(into: raw) }
        _ = try? bytes.withUnsafeBytes { raw throws(SystemError) in try p.fd.write(raw) }
        p.fd.shutdownWrite()
        p.fd.close()
    }
}
