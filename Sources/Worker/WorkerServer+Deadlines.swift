import LivefeedProtocol

/// The deadlines of HTTP connections and of queued output, checked by the sweep every 250 ms: a request must be
/// complete `--request-timeout-ms` after its first byte, an idle keep-alive connection closes after the idle
/// timeout, and output that makes no progress for `--send-timeout-ms` closes its connection. Live connections' close
/// handshakes and heartbeats are checked here too.
extension WorkerServer {
    /// Closes idle keep-alive connections and requests that take too long to arrive.
    func sweep(now: UInt64) {
        for c in Array(connections.values) where c.mode == .webSocket {
            if c.closeDeadline != 0 {
                if now > c.closeDeadline { close(c, reason: c.closeReason) }
            } else {
                heartbeat(c, now: now)
            }
        }
        for c in Array(connections.values) where c.mode == .http && c.out.isEmpty {
            if c.requestStartedAt != 0 {
                // From the request's first byte, not the last read: a body sent a byte at a time cannot hold the
                // connection longer than a fast one.
                // (A request may have started after `now` was read, while this loop turn served others.)
                if now > c.requestStartedAt && now - c.requestStartedAt > config.requestTimeoutMilliseconds {
                    respond(c, status: 408, json: apiError("request_timeout", "request not received in time"), keepAlive: false)
                }
            } else if now > c.lastActivity && now - c.lastActivity > config.idleTimeoutMilliseconds {
                close(c, reason: "idle_timeout")
            }
        }
        for c in Array(connections.values) where !c.closed {
            checkSendProgress(c, now: now)
        }
    }

    /// Closes a connection whose queued output has not moved for the send timeout: a peer that stopped reading
    /// (its answers, pipelined or live, wait in its queue and it never takes them).
    func checkSendProgress(_ c: Connection, now: UInt64) {
        guard !c.out.isEmpty else {
            c.stalledSince = 0
            return
        }
        if c.stalledSince == 0 || c.bytesDelivered != c.deliveredAtLastSweep {
            c.stalledSince = now
            c.deliveredAtLastSweep = c.bytesDelivered
        } else if now - c.stalledSince > config.sendTimeoutMilliseconds {
            c.closeReason = "send_timeout"
            close(c, reason: "send_timeout")
        }
    }
}
