import LivefeedProtocol

/// One tick (or one subscription) as the feeds see it: the rows it covers, memoised reads several feeds share,
/// and the connections that got frames (flushed once, after every feed has published).
final class FeedContext {
    let store: MessageStore
    /// Rows after `from` up to and including `through` are this tick's new messages (none when equal).
    let from: Int64
    let through: Int64
    /// For a subscription: `through` was the newest message a moment ago (see `Ticker.lastSeenIsCurrent`).
    var throughIsCurrent = false
    let now: String
    /// The same moment in Unix milliseconds.
    let nowMilliseconds: Int64
    /// Unowned and unchecked: the outlet (the live service) owns the feeds and outlives every tick, and a checked
    /// reference costs two atomic operations per delivery.
    unowned(unsafe) let outlet: LiveOutlet
    private(set) var touched: [LiveSession] = []
    private var changedChannels: [ChannelRow]?
    private var changedUsers: [UserRow]?
    private var currentTotals: Totals?

    init(store: MessageStore, from: Int64, through: Int64, outlet: LiveOutlet) {
        self.store = store
        self.from = from
        self.through = through
        nowMilliseconds = Timestamp.nowUnixMilliseconds()
        now = Timestamp.format(unixMilliseconds: nowMilliseconds)
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
