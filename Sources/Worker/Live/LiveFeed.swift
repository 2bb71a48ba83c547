import LivefeedProtocol

/// One live view's data: who watches it, what a new subscriber gets first, and what a tick publishes. Each feed
/// reads the database once per tick for all its subscribers and encodes each frame once per format; the same bytes
/// go to every subscriber. Feeds are registered in `LiveFeeds`, routed by `LiveRoute`.
protocol LiveFeed: AnyObject {
    var subscriberCount: Int { get }
    /// Remembers `c` (its `route` names this feed) and queues its first frames, or closes it through
    /// `context.outlet` when it cannot be served. Throws when the database cannot be read.
    func subscribe(_ c: LiveSession, after: Int64?, _ context: FeedContext) throws
    func unsubscribe(_ c: LiveSession)
    /// Whether this feed has anything to publish this turn: by default only when the database changed.
    func wantsTick(databaseChanged: Bool, nowMilliseconds: Int64) -> Bool
    /// Queues this tick's changes for every subscriber, inside the tick's read transaction.
    func publish(_ context: FeedContext) throws
}

extension LiveFeed {
    func wantsTick(databaseChanged: Bool, nowMilliseconds: Int64) -> Bool { databaseChanged }
}
