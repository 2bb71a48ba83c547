/// Subscribers of a feed keyed by one id (a channel, a user). Each group is a contiguous array (and where each
/// session sits in it), so a fan-out takes the group as it is with one reference (copy on write: a join or a leave
/// while the fan-out walks it copies the array then, not every tick), and walks it in order.
struct SubscriberGroups {
    private var groups: [Int64: [LiveSession]] = [:]
    /// Per group, each session's index in its array.
    private var positions: [Int64: [UInt64: Int]] = [:]
    private(set) var count = 0

    mutating func add(_ c: LiveSession, to key: Int64) {
        if let i = positions[key]?[c.id] {
            groups[key]![i] = c
            return
        }
        positions[key, default: [:]][c.id] = groups[key]?.count ?? 0
        groups[key, default: []].append(c)
        count += 1
    }

    mutating func remove(_ c: LiveSession, from key: Int64) {
        guard let i = positions[key]?.removeValue(forKey: c.id) else { return }
        count -= 1
        let last = groups[key]!.count - 1
        if i != last {
            groups[key]!.swapAt(i, last)
            positions[key]![groups[key]![i].id] = i
        }
        groups[key]!.removeLast()
        if groups[key]!.isEmpty {
            groups[key] = nil
            positions[key] = nil
        }
    }

    /// The group's sessions, nil when it has none.
    subscript(key: Int64) -> [LiveSession]? { groups[key] }
}
