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

    init(
        id: UInt64, fd: FileDescriptor, client: SocketAddress?, clientKey: String, acceptedAt: UInt64,
        overClientCap: Bool
    ) {
        self.id = id
        self.fd = fd
        self.client = client?.description ?? "unknown"
        self.clientKey = clientKey
        self.acceptedAt = acceptedAt
        self.overClientCap = overClientCap
    }
}
