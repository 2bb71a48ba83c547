/// Subscribers of a feed keyed by one id (a channel, a user).
struct SubscriberGroups {
    private(set) var groups: [Int64: [UInt64: LiveSession]] = [:]
    private(set) var count = 0

    mutating func add(_ c: LiveSession, to key: Int64) {
        if groups[key, default: [:]].updateValue(c, forKey: c.id) == nil { count += 1 }
    }

    mutating func remove(_ c: LiveSession, from key: Int64) {
        guard groups[key]?.removeValue(forKey: c.id) != nil else { return }
        count -= 1
        if groups[key]?.isEmpty == true { groups[key] = nil }
    }

    subscript(key: Int64) -> [UInt64: LiveSession]? { groups[key] }
}
