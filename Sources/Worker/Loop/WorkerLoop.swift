import LivefeedProtocol

/// The worker's event loop: one epoll wait at a time, events dispatched by a typed token, then one turn of the
/// parts' timers. Nothing a connection does can keep the loop from coming back to the timers: reads, requests and
/// replays are all bounded per turn.
final class WorkerLoop {
    let epoll: Epoll
    let clock = MonotonicClock()

    init() throws { epoll = try Epoll() }

    func run(_ parts: some LoopParts) throws {
        var timeout = parts.turn(now: clock.nowMilliseconds)
        while parts.running {
            try epoll.wait(timeoutMilliseconds: Int32(clamping: max(0, timeout))) { token, events in
                switch WorkerToken(raw: token) {
                case .control: parts.control(events)
                case .signals: parts.signals()
                case .connection(let id): parts.connection(id, events)
                }
            }
            timeout = parts.turn(now: clock.nowMilliseconds)
        }
    }
}
