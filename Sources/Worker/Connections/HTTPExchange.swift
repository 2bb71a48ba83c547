import LivefeedProtocol

/// A connection's HTTP/1.1 side: the bytes of requests not yet answered, the head being parsed, and its turn.
final class HTTPExchange {
    var readBuffer: [UInt8] = []
    var parser: RequestHeadParser
    /// A parsed head whose body has not fully arrived.
    var pendingHead: HTTPRequestHead?
    /// When the first byte of the request being read arrived (0: none in progress); the whole request, head and
    /// body, must arrive by this plus the request timeout, however it trickles in.
    var requestStartedAt: UInt64 = 0
    /// Used its turn of requests this loop turn; waits in the backlog until the next.
    var awaitingTurn = false

    init(maxHeadBytes: Int) {
        parser = RequestHeadParser(limits: .init(maxBytes: maxHeadBytes))
    }

    /// Nothing half-read: the connection sits between requests (a drain may close it).
    var isBetweenRequests: Bool { pendingHead == nil && readBuffer.isEmpty }
}
