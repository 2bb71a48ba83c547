/// Counts by key over the last minute, in one-second buckets: what STATUS= reports as refusals and drops "in the
/// last minute". Memory stays fixed however many events happen; keys are the few reasons the supervisor knows.
struct MinuteCounts {
    private struct Bucket {
        var second = UInt64.max
        var counts: [String: Int64] = [:]
    }

    private var buckets = [Bucket](repeating: Bucket(), count: 60)

    mutating func add(_ key: String, _ n: Int64 = 1, nowMilliseconds: UInt64) {
        let second = nowMilliseconds / 1000
        let i = Int(second % 60)
        if buckets[i].second != second { buckets[i] = Bucket(second: second) }
        buckets[i].counts[key, default: 0] += n
    }

    /// Sums over the 60 seconds up to and including the current one.
    func totals(nowMilliseconds: UInt64) -> [String: Int64] {
        let second = nowMilliseconds / 1000
        var sums: [String: Int64] = [:]
        for bucket in buckets where bucket.second != .max && bucket.second <= second && second - bucket.second < 60 {
            sums.merge(bucket.counts, uniquingKeysWith: +)
        }
        return sums
    }
}
