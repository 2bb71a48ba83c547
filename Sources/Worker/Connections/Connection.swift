import LivefeedProtocol

/// One client connection handed over by the supervisor. Owns `fd` from the handoff until it is closed. Its `phase`
/// is what it is doing (HTTP requests, a live view, or closing), and `state` derives from it the one deadline the
/// connection has at any moment (see `ConnectionState`).
final class Connection {
    enum Phase {
        case http(HTTPExchange)
        case live(LiveSession)
        /// Finishing: queued output goes out and a live client's close reply is awaited, then the descriptor closes.
        case closing(Closing)
        /// The descriptor is closed and the close record sent. (A feed walking its subscribers may still hold the
        /// session for a moment; the session holds the connection, not the other way round any more.)
        case closed
    }

    struct Closing {
        /// The `reason` of the close record.
        var reason: String
        /// A close handshake ends by this time whatever happens; nil: as long as the output keeps moving.
        var deadline: UInt64?
        /// A live connection keeps its session: the peer's close reply is read with it, and the close record
        /// carries its counts.
        var session: LiveSession?
        /// Closes as soon as the output is written (an answer with `Connection: close`, a close reply sent);
        /// otherwise it waits for the peer's close frame or the deadline.
        var whenFlushed: Bool
    }

    // What a fan-out's write reads and writes comes first, in the object's first cache line (see `LiveSession`).
    let fd: FileDescriptor
    var closed = false
    var writeRegistered = false
    /// Reading stopped because answers pile up unread (a client pipelining requests it never reads) or because it
    /// waits for its next turn.
    var readPaused = false
    var out = OutboundQueue()
    var bytesDelivered = 0

    let id: UInt64
    /// The view the supervisor counted this connection against.
    let handedView: ConnectionView
    let client: String
    let openedAt: UInt64  // monotonic ms

    var phase: Phase
    /// When the peer last sent anything.
    var heardAt: UInt64
    var requestsServed = 0
    /// When the queued output last moved, as the sweep saw it (0: nothing queued).
    private(set) var stalledSince: UInt64 = 0
    private var deliveredAtLastLook = 0

    init(id: UInt64, fd: FileDescriptor, view: ConnectionView, client: String, exchange: HTTPExchange, now: UInt64) {
        self.id = id
        self.fd = fd
        self.handedView = view
        self.client = client
        self.openedAt = now
        self.heardAt = now
        self.phase = .http(exchange)
    }

    var http: HTTPExchange? {
        if case .http(let h) = phase { h } else { nil }
    }

    /// The live session, also while a live connection is closing.
    var session: LiveSession? {
        switch phase {
        case .live(let s): s
        case .closing(let c): c.session
        case .http, .closed: nil
        }
    }

    var closing: Closing? {
        if case .closing(let c) = phase { c } else { nil }
    }

    /// Notes whether the queued output moved since the last look (the sweep's, every 250 ms).
    func observeProgress(now: UInt64) {
        if out.isEmpty {
            stalledSince = 0
        } else if stalledSince == 0 || bytesDelivered != deliveredAtLastLook {
            stalledSince = now
            deliveredAtLastLook = bytesDelivered
        }
    }

    /// What the connection is doing now, for its deadline. Queued output that does not move comes first: whatever
    /// else the connection does, a peer that stopped reading is what holds it.
    var state: ConnectionState {
        if let c = closing, let deadline = c.deadline { return .closing(reason: c.reason, deadline: deadline) }
        if stalledSince != 0 { return .sending(stalledSince: stalledSince) }
        switch phase {
        case .http(let h):
            return h.requestStartedAt != 0 ? .receiving(since: h.requestStartedAt) : .idle(since: heardAt)
        case .live(let s):
            return .live(heardAt: heardAt, pingSentAt: s.pingSentAt)
        case .closing, .closed:
            // Closing when flushed, and flushed: the close is already under way.
            return .idle(since: heardAt)
        }
    }
}
