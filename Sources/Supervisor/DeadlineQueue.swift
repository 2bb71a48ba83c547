/// Connection ids in the order their deadlines fall. Every entry gets the same timeout, so appending keeps the
/// queue sorted and expiry looks only at the front: constant work per connection however many wait.
/// Entries are not removed when their connection leaves early; the caller skips ids it no longer knows.
/// Deadlines are rounded up to `granularity` so that many connections share one wakeup.
struct DeadlineQueue {
    private var items: [(deadline: UInt64, id: UInt64)] = []
    private var head = 0
    let granularity: UInt64

    init(granularity: UInt64 = 50) { self.granularity = max(1, granularity) }

    var isEmpty: Bool { head == items.count }
    var nextDeadline: UInt64? { isEmpty ? nil : items[head].deadline }

    mutating func append(_ id: UInt64, deadline: UInt64) {
        let rounded = (deadline + granularity - 1) / granularity * granularity
        items.append((rounded, id))
    }

    /// Removes and returns the ids whose deadline is at or before `now`.
    mutating func popExpired(now: UInt64) -> [UInt64] {
        var out: [UInt64] = []
        while head < items.count && items[head].deadline <= now {
            out.append(items[head].id)
            head += 1
        }
        compact()
        return out
    }

    /// The id at the front (the earliest deadline), if any.
    var first: UInt64? { isEmpty ? nil : items[head].id }

    /// Removes and returns the id at the front.
    mutating func popFirst() -> UInt64? {
        guard !isEmpty else { return nil }
        let id = items[head].id
        head += 1
        compact()
        return id
    }

    private mutating func compact() {
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
    }
}
