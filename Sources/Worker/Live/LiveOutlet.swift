import LivefeedProtocol

/// What the feeds need from the connections' owner: writing frames and closing live connections.
protocol LiveOutlet: AnyObject {
    /// Writes `frames` now (or queues them behind EPOLLOUT).
    func deliver(_ c: LiveSession, _ frames: ArraySlice<SharedBytes>)
    /// Writes one buffer now (or queues it behind EPOLLOUT).
    func deliver(_ c: LiveSession, _ frame: SharedBytes)
    /// Writes what is queued for `c`.
    func flush(_ c: LiveSession)
    /// Sends `status` and a close frame, then waits (bounded) for the client's close reply.
    func closeLive(
        _ c: LiveSession, code: WebSocketCloseCode, state: String, reason: String, retryAfterMilliseconds: Int?)
}
