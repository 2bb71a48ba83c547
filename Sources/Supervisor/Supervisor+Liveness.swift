import LivefeedProtocol

/// Judging a worker silent only for time the supervisor was listening. A worker's silence is `now - lastHeardAt`;
/// when the supervisor's own loop stalled (a long turn under load, the process stopped or starved of CPU), that
/// stall is not the worker's silence: it is credited to every worker, and before a worker is judged its control
/// socket is read once more, in case its records are waiting unread.
extension Supervisor {
    /// The loop normally looks at the workers at least this often (`superviseWorkers` reschedules itself at 250 ms);
    /// a longer gap, beyond this slack, is the supervisor's own stall.
    static let lookIntervalMilliseconds: UInt64 = 500

    /// Credits a stall since the previous look to every worker's `lastHeardAt`. Called at each look.
    func creditOwnStall(now: UInt64) {
        defer { lastLookedAt = now }
        guard lastLookedAt != 0, now > lastLookedAt + Self.lookIntervalMilliseconds else { return }
        let stall = now - lastLookedAt - Self.lookIntervalMilliseconds
        metrics.supervisorStallMilliseconds += stall
        for slot in workers.all where slot.hasProcess {
            slot.lastHeardAt = min(now, slot.lastHeardAt + stall)
        }
    }

    /// True when `slot` has been silent for the worker timeout even after reading what it may have sent.
    func isSilent(_ slot: WorkerSlot, now: UInt64) -> Bool {
        guard !slot.killSent, now - slot.lastHeardAt >= config.workerTimeoutMilliseconds else { return false }
        readRecords(from: slot, [.readable])
        return !slot.killSent && now > slot.lastHeardAt && now - slot.lastHeardAt >= config.workerTimeoutMilliseconds
    }
}
