import LivefeedProtocol

/// Draining (closing live clients spread over the supervisor's window) and the periodic gauges record, driven
/// from the run loop.
extension WorkerServer {
    static let gaugesIntervalMilliseconds: UInt64 = 1000

    /// Closes the live connections whose turn has come, with 1012 and a jittered retry suggestion. Connections
    /// that became live after the drain began (a handoff already in flight when it started) join the schedule;
    /// keep-alive connections close as soon as they are idle between requests.
    func serviceDrain(now: UInt64) {
        guard draining, var schedule = drainSchedule else { return }
        if now >= nextDrainScan {
            nextDrainScan = now + 50
            var late: [UInt64] = []
            for c in Array(connections.values) {
                if c.mode == .webSocket {
                    if !schedule.contains(c.id) { late.append(c.id) }
                } else if c.requestsServed > 0 && c.out.isEmpty && c.pendingHead == nil && c.readBuffer.isEmpty {
                    close(c, reason: "drained")
                }
            }
            schedule.add(late, now: now)
        }
        let due = schedule.popDue(now: now)
        drainSchedule = schedule
        for id in due {
            guard let c = connections[id] else { continue }
            closeLive(c, code: .serviceRestart, state: "restart", reason: "the server is restarting; reconnect",
                retryAfterMilliseconds: schedule.retryAfterForOneClient())
        }
    }

    /// Milliseconds until the drain needs the loop again, if it does.
    func drainTimeout(now: UInt64) -> Int64? {
        guard draining, let schedule = drainSchedule else { return nil }
        var wake = Int64(nextDrainScan) - Int64(now)
        if let due = schedule.nextDue { wake = min(wake, Int64(due) - Int64(now)) }
        return max(0, wake)
    }

    /// Sends the gauges record when it is due; it is also the supervisor's sign that this loop is alive.
    func sendGaugesIfDue(now: UInt64) {
        guard now >= nextGauges else { return }
        nextGauges = now + Self.gaugesIntervalMilliseconds
        var gauges = WorkerGauges(
            recordsQueued: Int64(reporter.queuedRecords), recordsQueuedPeak: Int64(reporter.peakQueuedRecords),
            recordsDropped: reporter.droppedRecords)
        for c in connections.values {
            gauges.connections[c.handedView, default: 0] += 1
            gauges.queuedBytes += Int64(c.out.byteCount)
        }
        reporter.send(.workerGauges(gauges))
    }

    func handleSignals() {
        guard let received = try? signals.drain(), !received.isEmpty else { return }
        reporter.log(.info, .workerSignalled, ["signal": .int(Int64(received[0]))])
        beginDrain(
            spreadMilliseconds: Self.signalDrainSpreadMilliseconds,
            retryAfterMilliseconds: Self.signalDrainRetryAfterMilliseconds)
    }

    /// Live clients are closed spread over the window (see `serviceDrain`); idle keep-alive connections close
    /// now; a connection that has not had its first request answered yet gets that answer first.
    func beginDrain(spreadMilliseconds requestedSpread: Int64, retryAfterMilliseconds requestedRetry: Int64) {
        guard !draining else { return }
        // From a record: bounded, so no sum with the clock can overflow.
        let spreadMilliseconds = min(max(0, requestedSpread), 3_600_000)
        let retryAfterMilliseconds = min(max(0, requestedRetry), 3_600_000)
        draining = true
        let now = clock.nowMilliseconds
        drainDeadline = now + UInt64(max(0, spreadMilliseconds)) + 5000
        var schedule = DrainSchedule(
            start: now, spreadMilliseconds: spreadMilliseconds, retryAfterMilliseconds: retryAfterMilliseconds)
        var live: [UInt64] = []
        for c in Array(connections.values) {
            if c.mode == .webSocket {
                live.append(c.id)
            } else if c.requestsServed > 0 && c.out.isEmpty && c.pendingHead == nil && c.readBuffer.isEmpty {
                close(c, reason: "drained")
            }
        }
        schedule.add(live, now: now)
        drainSchedule = schedule
        nextDrainScan = now + 50
        reporter.log(.info, .workerDraining, [
            "connections": .int(Int64(connections.count)), "live": .int(Int64(live.count)),
            "spread_ms": .int(spreadMilliseconds), "retry_after_ms": .int(retryAfterMilliseconds),
        ])
        serviceDrain(now: now)
    }
}
