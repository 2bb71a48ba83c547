import LivefeedProtocol

/// A connection the supervisor has accepted but not yet handed over: it waits for a complete request head.
/// Owns `fd` until a handoff (the worker then owns its copy) or a refusal.
final class PendingConnection {
    let id: UInt64
    let fd: FileDescriptor
    let client: String
    let clientHost: String
    let acceptedAt: UInt64

    init(id: UInt64, fd: FileDescriptor, client: SocketAddress?, acceptedAt: UInt64) {
        self.id = id
        self.fd = fd
        self.client = client?.description ?? "unknown"
        self.clientHost = client?.host ?? "unknown"
        self.acceptedAt = acceptedAt
    }
}
