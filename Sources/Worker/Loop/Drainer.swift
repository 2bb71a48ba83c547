import LivefeedProtocol

/// Draining, on the supervisor's `drain` record or a TERM/INT: live clients are closed with 1012 spread over the
/// window with a jittered retry suggestion, idle keep-alive connections close at once, and a connection whose
/// request is in flight gets its answer (with `Connection: close`) first. The worker exits when every connection is
/// gone, or at the window's end plus a grace.
final class Drainer {
    private let connections: Connections
    private let live: LiveService
    private let http: HTTPService
    private let reporter: Reporter
    private(set) var draining = false
    private(set) var deadline: UInt64 = 0
    private var schedule: DrainSchedule?
    private var nextScan: UInt64 = 0

    init(connections: Connections, live: LiveService, http: HTTPService, reporter: Reporter) {
        self.connections = connections
        self.live = live
        self.http = http
        self.reporter = reporter
    }

    func begin(spreadMilliseconds requestedSpread: Int64, retryAfterMilliseconds requestedRetry: Int64, now: UInt64) {
        guard !draining else { return }
        // From a record: bounded, so no sum with the clock can overflow.
        let spreadMilliseconds = min(max(0, requestedSpread), 3_600_000)
        let retryAfterMilliseconds = min(max(0, requestedRetry), 3_600_000)
        draining = true
        http.draining = true
        deadline = now + UInt64(spreadMilliseconds) + 5000
        var schedule = DrainSchedule(
            start: now, spreadMilliseconds: spreadMilliseconds, retryAfterMilliseconds: retryAfterMilliseconds)
        let liveIDs = closeIdleAndListLive()
        schedule.add(liveIDs, now: now)
        self.schedule = schedule
        nextScan = now + 50
        reporter.log(.info, .workerDraining, [
            "connections": .int(Int64(connections.count)), "live": .int(Int64(liveIDs.count)),
            "spread_ms": .int(spreadMilliseconds), "retry_after_ms": .int(retryAfterMilliseconds),
        ])
        service(now: now)
    }

    /// Closes the live connections whose turn has come. Connections that became live after the drain began (a
    /// handoff already in flight when it started) join the schedule; keep-alive connections close as soon as they
    /// are idle between requests.
    func service(now: UInt64) {
        guard draining, var schedule else { return }
        if now >= nextScan {
            nextScan = now + 50
            let late = closeIdleAndListLive().filter { !schedule.contains($0) }
            schedule.add(late, now: now)
        }
        let due = schedule.popDue(now: now)
        self.schedule = schedule
        for id in due {
            guard case .live(let s)? = connections[id]?.phase else { continue }
            live.closeLive(s, code: .serviceRestart, state: "restart", reason: "the server is restarting; reconnect",
                retryAfterMilliseconds: schedule.retryAfterForOneClient())
        }
    }

    /// Closes keep-alive connections idle between answered requests; returns the live ones.
    private func closeIdleAndListLive() -> [UInt64] {
        var liveIDs: [UInt64] = []
        for c in connections.all {
            switch c.phase {
            case .live: liveIDs.append(c.id)
            case .http(let h) where c.requestsServed > 0 && c.out.isEmpty && h.isBetweenRequests:
                connections.close(c, reason: "drained")
            default: break
            }
        }
        return liveIDs
    }

    /// Milliseconds until the drain needs the loop again, if it does.
    func timeout(now: UInt64) -> Int64? {
        guard draining, let schedule else { return nil }
        var wake = Int64(nextScan) - Int64(now)
        if let due = schedule.nextDue { wake = min(wake, Int64(due) - Int64(now)) }
        return max(0, wake)
    }
}
