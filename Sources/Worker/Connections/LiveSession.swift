import LivefeedProtocol

/// A connection's live side after the upgrade: the WebSocket, the view it watches, where it stands in it, and what
/// it was sent. Feeds hold sessions; a session reaches its socket through `connection` (a strong reference: the
/// connection lets go of its session when it closes, so there is no cycle).
final class LiveSession {
    // What a fan-out reads and writes for every subscriber comes first, so it shares the object's first cache line
    // with the reference count (a walk over 1,000 subscribers is a walk over 1,000 cold objects; Swift lays a
    // class's stored properties out in declaration order).
    let connection: Connection
    /// The highest message id the frames sent so far reflect.
    var cursor: Int64 = 0
    /// Where a channel subscriber stands (see `ChannelFeed`).
    var channelPhase: ChannelFeed.Phase = .none
    let format: LiveFormat
    /// Snapshot frames waiting for the socket, newest value per key: they coalesce instead of queueing.
    private var pendingSnapshots: [Int64: SharedBytes] = [:]
    var framesQueued = 0

    let route: LiveRoute
    var webSocket: WebSocketConnectionState
    /// A ping awaiting its pong.
    var pingSentAt: UInt64?
    var closeCode: WebSocketCloseCode?
    /// Marked by a tick that queued frames for it; flushed once after every feed published.
    var touched = false

    // accounting
    var framesDropped = 0
    var framesCoalesced = 0
    var replayed = 0

    private var pendingSnapshotOrder: [Int64] = []

    init(connection: Connection, route: LiveRoute, format: LiveFormat, webSocket: WebSocketConnectionState) {
        self.connection = connection
        self.route = route
        self.format = format
        self.webSocket = webSocket
    }

    var id: UInt64 { connection.id }
    var hasPendingSnapshots: Bool { !pendingSnapshots.isEmpty }
    var pendingSnapshotCount: Int { pendingSnapshots.count }

    /// Queues a snapshot frame under `key`, replacing an older one for the same key that has not gone out yet.
    func enqueueSnapshot(key: Int64, _ frame: SharedBytes) {
        if connection.out.isEmpty && pendingSnapshots.isEmpty {
            connection.out.append(frame)
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
            if let frame = pendingSnapshots[key] { connection.out.append(frame) }
        }
        pendingSnapshots.removeAll(keepingCapacity: false)
        pendingSnapshotOrder.removeAll(keepingCapacity: false)
        return true
    }
}
