/// The newest few events of one kind (refusals, drops, worker lifecycle) for the /status page. A ring: memory
/// stays fixed however many happen; `total` counts them all.
struct RecentEvents {
    struct Event {
        var time: String
        var summary: String
        var detail: String
    }

    let capacity: Int
    private var ring: [Event] = []
    private var next = 0
    private(set) var total = 0

    init(capacity: Int = 20) { self.capacity = max(1, capacity) }

    mutating func add(time: String, _ summary: String, _ detail: String) {
        let event = Event(time: time, summary: summary, detail: detail)
        total += 1
        if ring.count < capacity {
            ring.append(event)
        } else {
            ring[next] = event
        }
        next = (next + 1) % capacity
    }

    /// Newest first.
    var newestFirst: [Event] {
        guard ring.count == capacity else { return ring.reversed() }
        return (Array(ring[next...]) + Array(ring[..<next])).reversed()
    }
}
