/// When each live connection of a draining worker is told to go: spread evenly over the window the supervisor
/// asked for, so clients do not come back as a herd, each with its own jittered retry suggestion. A value:
/// times in, connection ids out; the worker's loop does the closing.
struct DrainSchedule {
    let start: UInt64
    let end: UInt64
    let retryAfterMilliseconds: Int64
    /// Close times in ascending order.
    private var due: [(at: UInt64, id: UInt64)] = []
    private var next = 0
    private var known: Set<UInt64> = []

    init(start: UInt64, spreadMilliseconds: Int64, retryAfterMilliseconds: Int64) {
        self.start = start
        end = start + UInt64(max(0, spreadMilliseconds))
        self.retryAfterMilliseconds = max(0, retryAfterMilliseconds)
    }

    func contains(_ id: UInt64) -> Bool { known.contains(id) }

    /// The earliest close still to come.
    var nextDue: UInt64? { next < due.count ? due[next].at : nil }

    /// Schedules connections not scheduled yet. The first batch is spaced evenly over the whole window in random
    /// order; later arrivals (upgraded after the drain began) get random times in what is left of it.
    mutating func add(_ ids: [UInt64], now: UInt64) {
        let fresh = ids.filter { !known.contains($0) }.shuffled()
        guard !fresh.isEmpty else { return }
        known.formUnion(fresh)
        let from = max(now, start)
        let window = end > from ? end - from : 0
        var times: [UInt64]
        if known.count == fresh.count {
            times = fresh.indices.map { from + window * UInt64($0) / UInt64(fresh.count) }
        } else {
            times = fresh.map { _ in window == 0 ? from : from + UInt64.random(in: 0..<window) }
        }
        var merged = Array(due[next...])
        for (t, id) in zip(times, fresh) { merged.append((t, id)) }
        merged.sort { $0.at < $1.at }
        due = merged
        next = 0
    }

    /// Connections whose time has come, in order.
    mutating func popDue(now: UInt64) -> [UInt64] {
        var out: [UInt64] = []
        while next < due.count && due[next].at <= now {
            out.append(due[next].id)
            next += 1
        }
        return out
    }

    /// The retry delay to suggest to one client: the base, jittered by ±25 %.
    func retryAfterForOneClient() -> Int {
        let base = Double(retryAfterMilliseconds)
        return Int((base * Double.random(in: 0.75...1.25)).rounded())
    }
}
