import LivefeedProtocol

/// A connection the supervisor has accepted but not yet handed over: it waits for a complete request head.
/// Owns `fd` until a handoff (the worker then owns its copy) or a refusal.
final class PendingConnection {
    let id: UInt64
    let fd: FileDescriptor
    let client: String
    /// What the per-client cap counts by (see `ClientKey`).
    let clientKey: String
    let acceptedAt: UInt64
    /// Set when the address was already at its cap on arrival: the connection holds no slot, and is answered
    /// 429 as soon as its head arrives (or its short grace runs out).
    let overClientCap: Bool
    /// What the socket it arrived on serves.
    let role: ListenerRole
    /// The head parsed so far. The supervisor only peeks (the worker must still read the head itself); the
    /// parser is fed only the bytes past `parsedBytes`, so a head dribbled one byte at a time costs time linear
    /// in its length.
    var parser: RequestHeadParser
    var parsedBytes = 0
    /// The socket has SO_PEEK_OFF set: each peek returns only bytes not peeked before. Without it (older
    /// kernels) every peek copies the whole queue again, and the kernel walks every segment received so far.
    /// The option stays set when the socket is handed over; it affects only MSG_PEEK, which workers do not use.
    let peeksFromOffset: Bool
    /// In the supervisor's epoll set: only once a peek found the head incomplete.
    var watched = false

    init(
        id: UInt64, fd: FileDescriptor, client: SocketAddress?, clientKey: String, acceptedAt: UInt64,
        overClientCap: Bool, role: ListenerRole = .http, maxHeadBytes: Int = 8192,
        peeksFromOffset: Bool = false
    ) {
        self.id = id
        self.fd = fd
        self.client = client?.description ?? "unknown"
        self.clientKey = clientKey
        self.acceptedAt = acceptedAt
        self.overClientCap = overClientCap
        self.role = role
        parser = RequestHeadParser(limits: .init(maxBytes: maxHeadBytes))
        self.peeksFromOffset = peeksFromOffset
    }
}
