import LivefeedProtocol

/// Draining, on the supervisor's `drain` record or a TERM/INT: live clients are closed with 1012 spread over the
/// window with a jittered retry suggestion, idle keep-alive connections close at once, and a connection whose
/// request is in flight gets its answer (with `Connection: close`) first. The worker exits when every connection is
/// gone, or at the window's end plus a grace.
///
/// With `handover` (a reload, `--reload-mode handover`) live connections first go back to the supervisor for a new
/// worker, each as soon as nothing is queued for it and nothing partial was read from it (`LiveService.moveOut`);
/// the 1012 closes start only after `Record.handoverGraceMilliseconds`, for those that could not move by then.
final class Drainer {
    private let connections: Connections
    private let live: LiveService
    private let http: HTTPService
    private let reporter: Reporter
    private(set) var draining = false
    private(set) var deadline: UInt64 = 0
    private var schedule: DrainSchedule?
    private var nextScan: UInt64 = 0
    private var handover = false
    /// Live connections to move, in order, and those to try again at the next scan.
    private var toMove: [UInt64] = []
    private var nextToMove = 0
    private var moveLater: [UInt64] = []
    /// The control socket was full: try again a moment later.
    private var moveRetryAt: UInt64?

    init(connections: Connections, live: LiveService, http: HTTPService, reporter: Reporter) {
        self.connections = connections
        self.live = live
        self.http = http
        self.reporter = reporter
    }

    func begin(
        spreadMilliseconds requestedSpread: Int64, retryAfterMilliseconds requestedRetry: Int64, handover: Bool = false,
        now: UInt64
    ) {
        guard !draining else { return }
        // From a record: bounded, so no sum with the clock can overflow.
        let spreadMilliseconds = min(max(0, requestedSpread), 3_600_000)
        let retryAfterMilliseconds = min(max(0, requestedRetry), 3_600_000)
        let grace = handover ? UInt64(Record.handoverGraceMilliseconds) : 0
        draining = true
        http.draining = true
        self.handover = handover
        deadline = now + grace + UInt64(spreadMilliseconds) + 5000
        var schedule = DrainSchedule(
            start: now + grace, spreadMilliseconds: spreadMilliseconds, retryAfterMilliseconds: retryAfterMilliseconds)
        let liveIDs = closeIdleAndListLive()
        schedule.add(liveIDs, now: now)
        if handover { toMove = liveIDs }
        self.schedule = schedule
        nextScan = now + 50
        reporter.log(.info, .workerDraining, [
            "connections": .int(Int64(connections.count)), "live": .int(Int64(liveIDs.count)),
            "spread_ms": .int(spreadMilliseconds), "retry_after_ms": .int(retryAfterMilliseconds),
            "handover": .int(handover ? 1 : 0),
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
            if handover {
                toMove = Array(toMove[nextToMove...]) + moveLater + late
                nextToMove = 0
                moveLater = []
            }
        }
        if handover { moveSome(now: now) }
        let due = schedule.popDue(now: now)
        self.schedule = schedule
        for id in due {
            guard case .live(let s)? = connections[id]?.phase else { continue }
            live.closeLive(s, code: .serviceRestart, state: "restart", reason: "the server is restarting; reconnect",
                retryAfterMilliseconds: schedule.retryAfterForOneClient())
        }
    }

    /// Hands live connections back to the supervisor until the control socket is full; those not at a point where
    /// they can move wait for the next scan.
    private func moveSome(now: UInt64) {
        if let at = moveRetryAt, now < at { return }
        moveRetryAt = nil
        while nextToMove < toMove.count {
            let id = toMove[nextToMove]
            guard case .live(let s)? = connections[id]?.phase else {
                nextToMove += 1  // closed, or closing: nothing to move
                continue
            }
            switch live.moveOut(s) {
            case .moved:
                nextToMove += 1
            case .notNow:
                nextToMove += 1
                moveLater.append(id)
            case .socketFull:
                moveRetryAt = now + 2
                return
            }
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
        if handover, nextToMove < toMove.count { wake = min(wake, Int64(moveRetryAt ?? now) - Int64(now)) }
        return max(0, wake)
    }
}
