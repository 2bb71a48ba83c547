import LivefeedProtocol

/// One client connection handed over by the supervisor. Owns `fd` from the handoff until `close`.
/// Starts as HTTP/1.1; after a successful upgrade it carries a WebSocket and, for a live view, a subscription.
final class Connection {
    enum Mode {
        case http
        case webSocket
    }

    /// Where a live channel subscriber stands: replaying history from the database, or receiving live frames.
    enum Feed {
        case none
        case replaying
        case live
    }

    let id: UInt64
    let fd: FileDescriptor
    let handedView: ConnectionView
    let client: String
    let openedAt: UInt64  // monotonic ms

    var mode: Mode = .http
    var out = OutboundQueue()
    var writeRegistered = false
    var closeAfterFlush = false
    var closed = false
    var lastActivity: UInt64

    // HTTP state
    var readBuffer: [UInt8] = []
    var headParser = RequestHeadParser()
    var pendingHead: HTTPRequestHead?
    var requestsServed = 0

    // WebSocket state
    var webSocket = WebSocketConnectionState()
    var liveView: ConnectionView = .http
    var channelID: Int64 = 0
    var cursor: Int64 = 0
    var feed: Feed = .none
    var closeReason = "client_closed"
    var closeCode: WebSocketCloseCode?
    var closeDeadline: UInt64 = 0
    var touched = false

    // accounting
    var framesDelivered = 0
    var bytesDelivered = 0
    var framesQueued = 0
    var framesDropped = 0
    var replayed = 0

    init(id: UInt64, fd: FileDescriptor, view: ConnectionView, client: String, now: UInt64) {
        self.id = id
        self.fd = fd
        self.handedView = view
        self.client = client
        self.openedAt = now
        self.lastActivity = now
    }
}
