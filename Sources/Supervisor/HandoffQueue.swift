/// Admitted connections waiting for room in one worker's control socket, oldest first, at most `bound` of them.
/// Entries leave from the front once sent (`popFirst`), or from anywhere when their head deadline passes or their
/// worker goes away (`remove`, `removeAll`). A pure value: the supervisor owns the descriptors in `Item`. It
/// counts its items by channel (`channel`), so channel affinity sees subscribers that wait here as placed.
struct HandoffQueue<Item> {
    let bound: Int
    private var items: [(id: UInt64, item: Item)?] = []
    private var head = 0
    private(set) var count = 0
    private let channel: (Item) -> Int64?
    private var byChannel = ChannelCounts()

    init(bound: Int, channel: @escaping (Item) -> Int64? = { _ in nil }) {
        self.bound = max(1, bound)
        self.channel = channel
    }

    /// Items waiting here that subscribe to channel `id`.
    func waiting(channel id: Int64) -> Int { byChannel[id] }
    /// Items waiting here that subscribe to any channel.
    var waitingForChannels: Int { byChannel.total }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count >= bound }

    /// Adds `item` at the back; false (and nothing added) when the queue is full.
    mutating func append(_ id: UInt64, _ item: Item) -> Bool {
        guard !isFull else { return false }
        items.append((id, item))
        count += 1
        byChannel.add(channel(item))
        return true
    }

    /// The oldest entry still waiting.
    mutating func first() -> (id: UInt64, item: Item)? {
        while head < items.count, items[head] == nil { head += 1 }
        return head < items.count ? items[head] : nil
    }

    /// The oldest `n` entries still waiting, oldest first (they stay queued).
    func prefix(_ n: Int) -> [(id: UInt64, item: Item)] {
        var out: [(id: UInt64, item: Item)] = []
        out.reserveCapacity(min(n, count))
        var i = head
        while out.count < n && i < items.count {
            if let entry = items[i] { out.append(entry) }
            i += 1
        }
        return out
    }

    /// Removes the oldest entry still waiting.
    @discardableResult
    mutating func popFirst() -> (id: UInt64, item: Item)? {
        guard let entry = first() else { return nil }
        items[head] = nil
        head += 1
        count -= 1
        byChannel.remove(channel(entry.item))
        compact()
        return entry
    }

    /// Removes the entry for `id` wherever it waits (linear in the queue, which is bounded).
    mutating func remove(_ id: UInt64) -> Item? {
        guard let index = items[head...].firstIndex(where: { $0?.id == id }), let entry = items[index] else {
            return nil
        }
        items[index] = nil
        count -= 1
        byChannel.remove(channel(entry.item))
        compact()
        return entry.item
    }

    /// Empties the queue, returning what waited, oldest first.
    mutating func removeAll() -> [(id: UInt64, item: Item)] {
        let all = items[head...].compactMap { $0 }
        items.removeAll(keepingCapacity: true)
        head = 0
        count = 0
        byChannel = ChannelCounts()
        return all
    }

    private mutating func compact() {
        if count == 0 {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
    }
}

/// How many of something belong to each channel; a channel leaves at zero, and nothing goes below it.
struct ChannelCounts {
    private(set) var counts: [Int64: Int] = [:]
    /// The sum over every channel.
    private(set) var total = 0

    subscript(channel: Int64) -> Int { counts[channel] ?? 0 }
    var isEmpty: Bool { counts.isEmpty }
    /// The count of the channel with the most (a look at every channel: for the status page, not per connection).
    var largest: Int { counts.values.max() ?? 0 }

    mutating func add(_ channel: Int64?) {
        guard let channel else { return }
        counts[channel, default: 0] += 1
        total += 1
    }

    mutating func remove(_ channel: Int64?) {
        guard let channel, let n = counts[channel] else { return }
        counts[channel] = n > 1 ? n - 1 : nil
        total -= 1
    }
}
