/// Latencies in fixed 10 µs bins up to 10 s (4 MB, allocated once), with the exact maximum kept beside them.
/// Recording is an index and an increment, so ten million receipts cost nothing worth measuring.
struct LatencyHistogram {
    static let binNanoseconds: UInt64 = 10_000
    static let binCount = 1_000_000
    private var bins: [UInt32]
    private(set) var count = 0
    private(set) var overflow = 0
    private(set) var maxNanoseconds: UInt64 = 0
    private(set) var sumNanoseconds: Double = 0

    init() { bins = [UInt32](repeating: 0, count: Self.binCount) }

    mutating func record(_ nanoseconds: UInt64) {
        count += 1
        sumNanoseconds += Double(nanoseconds)
        if nanoseconds > maxNanoseconds { maxNanoseconds = nanoseconds }
        let bin = Int(nanoseconds / Self.binNanoseconds)
        if bin < Self.binCount { bins[bin] &+= 1 } else { overflow += 1 }
    }

    /// Every bin in use, in order (how a client shard sends its histogram to the parent bench).
    func forEachBin(_ body: (Int, UInt32) -> Void) {
        for (i, n) in bins.enumerated() where n > 0 { body(i, n) }
    }

    /// Adds a shard's bin; its count, overflow, maximum and sum come with `absorb`.
    mutating func add(bin: Int, count n: UInt32) {
        if bin >= 0 && bin < Self.binCount { bins[bin] &+= n }
    }

    mutating func absorb(count n: Int, overflow o: Int, maxNanoseconds m: UInt64, sumNanoseconds s: UInt64) {
        count += n
        overflow += o
        maxNanoseconds = max(maxNanoseconds, m)
        sumNanoseconds += Double(s)
    }

    var meanNanoseconds: UInt64 { count == 0 ? 0 : UInt64(sumNanoseconds / Double(count)) }

    /// How many latencies fall below each of `edges` (ascending, in nanoseconds) and not below the previous one;
    /// one more count at the end for the rest.
    func counts(below edges: [UInt64]) -> [Int] {
        var result = [Int](repeating: 0, count: edges.count + 1)
        var e = 0
        for (i, n) in bins.enumerated() where n > 0 {
            let low = UInt64(i) * Self.binNanoseconds
            while e < edges.count && low >= edges[e] { e += 1 }
            result[e] += Int(n)
        }
        result[edges.count] += overflow
        return result
    }

    /// The upper edge of the bin holding the `fraction` quantile (so at most 10 µs pessimistic), capped at max.
    func quantileNanoseconds(_ fraction: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = max(1, Int((Double(count) * fraction).rounded(.up)))
        var seen = 0
        for (i, n) in bins.enumerated() where n > 0 {
            seen += Int(n)
            if seen >= rank { return min(maxNanoseconds, UInt64(i + 1) * Self.binNanoseconds) }
        }
        return maxNanoseconds
    }
}
