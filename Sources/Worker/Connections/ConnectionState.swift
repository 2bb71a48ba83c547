/// What a connection is doing, each state with exactly one deadline and one thing that happens when it passes.
/// Pure: the sweep derives the state from the connection (`Connection.state`) and asks `due(now:)`; unit tests
/// drive it without sockets.
enum ConnectionState: Equatable {
    /// A keep-alive connection between requests: closed after the idle timeout.
    case idle(since: UInt64)
    /// A request's head or body is arriving: answered 408 unless complete within the request timeout of its
    /// first byte, however slowly it trickles.
    case receiving(since: UInt64)
    /// Output waits and has not moved since `stalledSince`: the peer stopped reading; closed after the send timeout.
    case sending(stalledSince: UInt64)
    /// A live view, last heard from at `heardAt`: pinged after the ping interval of silence, closed when a ping
    /// goes unanswered for the ping timeout.
    case live(heardAt: UInt64, pingSentAt: UInt64?)
    /// A close handshake, ended at `deadline` whether or not the peer answered.
    case closing(reason: String, deadline: UInt64)

    struct Timeouts: Equatable {
        var idle: UInt64
        var request: UInt64
        var send: UInt64
        var pingInterval: UInt64
        var pingTimeout: UInt64
    }

    enum Expiry: Equatable {
        case requestTimeout
        case ping
        case close(reason: String)
    }

    func deadline(_ t: Timeouts) -> UInt64 {
        switch self {
        case .idle(let since): since.addingSaturated(t.idle)
        case .receiving(let since): since.addingSaturated(t.request)
        case .sending(let since): since.addingSaturated(t.send)
        case .live(let heard, nil): heard.addingSaturated(t.pingInterval)
        case .live(_, let ping?): ping.addingSaturated(t.pingTimeout)
        case .closing(_, let deadline): deadline
        }
    }

    var expiry: Expiry {
        switch self {
        case .idle: .close(reason: "idle_timeout")
        case .receiving: .requestTimeout
        case .sending: .close(reason: "send_timeout")
        case .live(_, nil): .ping
        case .live(_, _?): .close(reason: "ping_timeout")
        case .closing(let reason, _): .close(reason: reason)
        }
    }

    /// What happens now, if this state's deadline has passed.
    func due(now: UInt64, _ t: Timeouts) -> Expiry? {
        now >= deadline(t) ? expiry : nil
    }
}

extension UInt64 {
    fileprivate func addingSaturated(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
