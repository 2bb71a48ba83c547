import LivefeedProtocol

/// One client connection handed over by the supervisor. Owns `fd` from the handoff until `close`.
/// Starts as HTTP/1.1; after a successful upgrade it carries a WebSocket and a live subscription.
final class Connection {
    enum Mode {
        case http
        case webSocket
    }

    let id: UInt64
    let fd: FileDescriptor
    let handedView: ConnectionView
    let client: String
    let openedAt: UInt64  // monotonic ms

    var mode: Mode = .http
    var out = OutboundQueue()
    /// Snapshot frames waiting for the socket, newest value per key: they coalesce instead of queueing.
    private var pendingSnapshots: [Int64: SharedBytes] = [:]
    private var pendingSnapshotOrder: [Int64] = []
    var writeRegistered = false
    /// Reading stopped because answers pile up unread (a client pipelining requests it never reads).
    var readPaused = false
    var closeAfterFlush = false
    var closed = false
    var lastActivity: UInt64

    // HTTP state
    var readBuffer: [UInt8] = []
    var headParser = RequestHeadParser()
    var pendingHead: HTTPRequestHead?
    var requestsServed = 0
    /// When the first byte of the request being read arrived (0: none in progress); the whole request, head and
    /// body, must arrive by this plus the request timeout, however it trickles in.
    var requestStartedAt: UInt64 = 0
    /// Used its turn of requests this loop turn; in `httpBacklog` until the next.
    var awaitingTurn = false

    // Output progress: queued bytes that stop moving for the send timeout close the connection.
    var stalledSince: UInt64 = 0
    var deliveredAtLastSweep = 0

    // WebSocket state
    var webSocket = WebSocketConnectionState()
    var target: LiveRoute?
    var format: LiveFormat = .json
    var cursor: Int64 = 0
    /// Where a channel subscriber stands (see `ChannelFeed`).
    var channelPhase: ChannelFeed.Phase = .none
    var closeReason = "client_closed"
    var closeCode: WebSocketCloseCode?
    var closeDeadline: UInt64 = 0
    var pingSentAt: UInt64 = 0
    var touched = false

    // accounting
    var framesQueued = 0
    var framesDropped = 0
    var framesCoalesced = 0
    var replayed = 0
    var bytesDelivered = 0

    init(id: UInt64, fd: FileDescriptor, view: ConnectionView, client: String, now: UInt64) {
        self.id = id
        self.fd = fd
        self.handedView = view
        self.client = client
        self.openedAt = now
        self.lastActivity = now
    }

    var liveView: ConnectionView { target?.view ?? .http }

    var hasPendingSnapshots: Bool { !pendingSnapshots.isEmpty }
    var pendingSnapshotCount: Int { pendingSnapshots.count }

    /// Queues a snapshot frame under `key`, replacing an older one for the same key that has not gone out yet.
    func enqueueSnapshot(key: Int64, _ frame: SharedBytes) {
        if out.isEmpty && pendingSnapshots.isEmpty {
            out.append(frame)
            framesQueued += 1
        } else if pendingSnapshots.updateValue(frame, forKey: key) == nil {
            pendingSnapshotOrder.append(key)
            framesQueued += 1
        } else {
            framesCoalesced += 1
        }
    }

    /// Forgets snapshots not yet queued (a closing connection gets its status next, nothing else).
    func dropPendingSnapshots() {
        pendingSnapshots.removeAll()
        pendingSnapshotOrder.removeAll()
    }

    /// Moves coalesced snapshots into the queue once the queue has drained. True when anything moved.
    func releaseSnapshots() -> Bool {
        guard !pendingSnapshots.isEmpty else { return false }
        for key in pendingSnapshotOrder {
            if let frame = pendingSnapshots[key] { out.append(frame) }
        }
        pendingSnapshots.removeAll(keepingCapacity: false)
        pendingSnapshotOrder.removeAll(keepingCapacity: false)
        return true
    }
}
