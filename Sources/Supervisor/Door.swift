/// The door's bookkeeping of connections still sending their request heads, without sockets, so its decisions
/// can be tested alone: how many may wait (`maxPending`, which with the connections waiting for a worker bounds
/// the descriptors the supervisor holds for clients), and which to shed when one more arrives at the bound
/// (the oldest, which under a slow-head attack are the slowest).
struct Door {
    /// Descriptors kept free beyond the waiting connections, so the supervisor can always accept and answer
    /// /healthz, /metrics and the metrics socket; and those it holds itself (epoll, signalfd, listeners, standard
    /// streams, journal and notify sockets).
    static let answerReserve = 64
    static let ownDescriptors = 32

    /// The bound on waiting connections: `configured` if given, else what the descriptor limit leaves after the
    /// reserve and the workers' control sockets (two generations during a reload, each a descriptor). Never more
    /// than that, never below 16.
    static func pendingLimit(configured: Int?, descriptorLimit: UInt64, workers: Int) -> Int {
        let held = UInt64(answerReserve + ownDescriptors + 2 * workers)
        let fitting = descriptorLimit > held ? Int(clamping: descriptorLimit - held) : 0
        return max(16, min(configured ?? fitting, fitting))
    }

    let maxPending: Int
    /// Arrival order, oldest first; ids that have left are skipped when reached.
    private var order = DeadlineQueue(granularity: 1)
    private(set) var waiting: Set<UInt64> = []

    init(maxPending: Int) { self.maxPending = max(1, maxPending) }

    var count: Int { waiting.count }

    mutating func arrive(_ id: UInt64, at now: UInt64) {
        waiting.insert(id)
        order.append(id, deadline: now)
    }

    /// The connection's head is complete, or it was refused or dropped. Leaving twice is harmless.
    mutating func leave(_ id: UInt64) {
        waiting.remove(id)
        while let first = order.first, !waiting.contains(first) { _ = order.popFirst() }
    }

    /// Makes room for one more arrival when `alsoHeld` descriptors are held for connections waiting for a worker
    /// (they count against the bound but are never shed: they passed every check). Returns the ids to shed, oldest
    /// first, already forgotten here; nil when no room can be made (everything held is waiting for a worker).
    mutating func makeRoom(alsoHeld: Int) -> [UInt64]? {
        var shed: [UInt64] = []
        while waiting.count + alsoHeld >= maxPending {
            guard let id = order.popFirst() else { return nil }
            if waiting.remove(id) != nil { shed.append(id) }
        }
        return shed
    }
}
