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

/// What the feeds need from the connections' owner: writing frames and closing live connections.
protocol LiveOutlet: AnyObject {
    /// Writes `frames` now (or queues them behind EPOLLOUT).
    func deliver(_ c: LiveSession, _ frames: ArraySlice<SharedBytes>)
    /// Writes what is queued for `c`.
    func flush(_ c: LiveSession)
    /// Sends `status` and a close frame, then waits (bounded) for the client's close reply.
    func closeLive(
        _ c: LiveSession, code: WebSocketCloseCode, state: String, reason: String, retryAfterMilliseconds: Int?)
}

/// One tick (or one subscription) as the feeds see it: the rows it covers, memoised reads several feeds share,
/// and the connections that got frames (flushed once, after every feed has published).
final class FeedContext {
    let store: MessageStore
    /// Rows after `from` up to and including `through` are this tick's new messages (none when equal).
    let from: Int64
    let through: Int64
    let now: String
    unowned let outlet: LiveOutlet
    private(set) var touched: [LiveSession] = []
    private var changedChannels: [ChannelRow]?
    private var changedUsers: [UserRow]?
    private var currentTotals: Totals?

    init(store: MessageStore, from: Int64, through: Int64, outlet: LiveOutlet) {
        self.store = store
        self.from = from
        self.through = through
        self.now = Timestamp.now()
        self.outlet = outlet
    }

    var epoch: String { store.epoch }
    var hasNewRows: Bool { through > from }

    /// Marks `c` for the flush after the tick (once, however many feeds touch it).
    func touch(_ c: LiveSession) {
        if !c.touched {
            c.touched = true
            touched.append(c)
        }
    }

    func channelsChanged() throws -> [ChannelRow] {
        if let changedChannels { return changedChannels }
        let rows = try store.channelsChanged(after: from)
        changedChannels = rows
        return rows
    }

    func usersChanged() throws -> [UserRow] {
        if let changedUsers { return changedUsers }
        let rows = try store.usersChanged(after: from)
        changedUsers = rows
        return rows
    }

    func totals() throws -> Totals {
        if let currentTotals { return currentTotals }
        let t = try store.totals()
        currentTotals = t
        return t
    }
}
