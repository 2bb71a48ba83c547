import LivefeedProtocol

/// What the loop drives. It knows no HTTP: readiness goes to whoever owns the token, and between waits the parts
/// run their timers.
protocol LoopParts: AnyObject {
    var running: Bool { get }
    func control(_ events: Epoll.Events)
    func signals()
    func connection(_ id: UInt64, _ events: Epoll.Events)
    /// Runs the work due after one wait (timers, backlogs); returns how long the loop may sleep (0: not at all).
    func turn(now: UInt64) -> Int64
}
