/// The door's state and decisions, without sockets, so a unit test can drive them: connection ids, the
/// connections still sending their heads (their arrival order and deadlines), the bound on them, the grace of
/// connections over their address's cap, and the pauses of accepting when descriptors run out. The supervisor
/// composes it with the sockets (listeners, each `PendingConnection`) and carries out what it decides.
struct Door {
    struct Settings {
        /// At most this many connections still sending their heads (`pendingLimit`).
        var maxPending: Int
        var headTimeoutMilliseconds: UInt64
        /// How long a connection over its address's cap may take to send its head, so its refusal can be a page
        /// or JSON as the path asks; and how many such connections may wait at once.
        var overCapGraceMilliseconds: UInt64 = 1000
        var maxOverCapWaiting = 256
        /// How long accepting pauses after EMFILE/ENFILE before it is tried again.
        var acceptPauseMilliseconds: UInt64 = 100
    }

    /// What becomes of a connection that just arrived.
    enum Arrival: Equatable {
        /// It waits for its head until `deadline`; `shed` are older waiting connections to refuse to make room.
        case wait(deadline: UInt64, shed: [UInt64])
        /// Over its address's cap while too many such wait already: refuse it now.
        case refuseOverCap(shed: [UInt64])
        /// The bound is taken by connections waiting for a worker, which are never shed: refuse it now.
        case refuseFull
    }

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

    let settings: Settings
    var maxPending: Int { settings.maxPending }
    private var nextID: UInt64 = 1
    /// Arrival order, oldest first; ids that have left are skipped when reached.
    private var order = DeadlineQueue(granularity: 1)
    private(set) var waiting: Set<UInt64> = []
    private var overCap: Set<UInt64> = []
    /// Head deadlines of connections within their caps, and the shorter grace of those over their address's cap.
    /// An id stays in `headDeadlines` after its head is complete, for the handoff queue's deadline.
    private var headDeadlines = DeadlineQueue()
    private var overCapDeadlines = DeadlineQueue()
    /// While set, accepting is paused (descriptors ran out) until this time.
    private(set) var acceptPausedUntil: UInt64?
    /// The current descriptor-exhaustion episode: when it began and how many pauses it took.
    private(set) var acceptEpisode: (start: UInt64, pauses: Int)?

    init(_ settings: Settings) {
        var s = settings
        s.maxPending = max(1, s.maxPending)
        self.settings = s
    }

    var count: Int { waiting.count }
    var overCapWaiting: Int { overCap.count }

    /// A connection id: never reused, never 0.
    mutating func newID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    /// Admits the connection `id` to wait for its head, making room at the bound when `alsoHeld` descriptors are
    /// held for connections waiting for a worker (they count, but are never shed: they passed every check). The
    /// oldest waiting connections are shed first; under a slow-head attack they are the slowest.
    mutating func arrive(_ id: UInt64, now: UInt64, overClientCap: Bool, alsoHeld: Int) -> Arrival {
        var shed: [UInt64] = []
        while waiting.count + alsoHeld >= settings.maxPending {
            guard let old = order.popFirst() else { return .refuseFull }
            if waiting.remove(old) != nil {
                overCap.remove(old)
                shed.append(old)
            }
        }
        if overClientCap && overCap.count >= settings.maxOverCapWaiting { return .refuseOverCap(shed: shed) }
        waiting.insert(id)
        order.append(id, deadline: now)
        if overClientCap {
            overCap.insert(id)
            let deadline = now + min(settings.headTimeoutMilliseconds, settings.overCapGraceMilliseconds)
            overCapDeadlines.append(id, deadline: deadline)
            return .wait(deadline: deadline, shed: shed)
        }
        let deadline = now + settings.headTimeoutMilliseconds
        headDeadlines.append(id, deadline: deadline)
        return .wait(deadline: deadline, shed: shed)
    }

    /// The connection's head is complete, or it was refused or dropped. Leaving twice is harmless.
    mutating func leave(_ id: UInt64) {
        waiting.remove(id)
        overCap.remove(id)
        while let first = order.first, !waiting.contains(first) { _ = order.popFirst() }
    }

    /// Ids whose head deadline passed (some may have left already: the caller looks them up), and ids over their
    /// address's cap whose grace passed.
    mutating func expired(now: UInt64) -> (heads: [UInt64], overCap: [UInt64]) {
        (headDeadlines.popExpired(now: now), overCapDeadlines.popExpired(now: now))
    }

    /// The next time the door needs the loop: a deadline or the end of an accept pause.
    var nextDeadline: UInt64? {
        [headDeadlines.nextDeadline, overCapDeadlines.nextDeadline, acceptPausedUntil].compactMap { $0 }.min()
    }

    // MARK: accept pauses

    var acceptPaused: Bool { acceptPausedUntil != nil }

    /// Accept failed for lack of descriptors (or adding the listeners back failed): pause until a moment later.
    /// True when this begins an episode (to be reported once).
    mutating func pauseAccepting(now: UInt64) -> Bool {
        acceptPausedUntil = now + settings.acceptPauseMilliseconds
        if var episode = acceptEpisode {
            episode.pauses += 1
            acceptEpisode = episode
            return false
        }
        acceptEpisode = (now, 1)
        return true
    }

    /// Adding the listeners back failed: try again after a pause, within the current episode if any.
    mutating func retryAcceptLater(now: UInt64) { acceptPausedUntil = now + settings.acceptPauseMilliseconds }

    /// Whether a pause is over at `now` (the listeners are to be added back).
    func pauseIsOver(now: UInt64) -> Bool { acceptPausedUntil.map { now >= $0 } ?? false }

    /// The listeners are back in the epoll set (or the door is closing).
    mutating func acceptResumed() { acceptPausedUntil = nil }

    /// The backlog was drained: an episode in progress is over. Returns how long it lasted and its pauses.
    mutating func backlogDrained(now: UInt64) -> (milliseconds: UInt64, pauses: Int)? {
        guard let episode = acceptEpisode else { return nil }
        acceptEpisode = nil
        return (now - episode.start, episode.pauses)
    }
}
