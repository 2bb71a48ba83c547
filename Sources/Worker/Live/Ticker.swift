import LivefeedProtocol

/// The tick: one look at the database per poll for every feed. Notices rows committed by any program
/// (`PRAGMA data_version`), takes a burst a bounded slice at a time, lets every feed that wants this tick publish
/// inside one read transaction, and flushes each touched subscriber once.
///
/// It also notices that the database is no longer the one this worker served: another file under the same path
/// (its epoch differs), or the same file gone back in time (a restored backup keeps its epoch, but its id sequence
/// is lower than ids already served). Either way every live client's cursor may name messages this database does
/// not have, so they are all told `epoch_changed` (4001) and reload. This is the single-host rule; a follower of a
/// replicated primary is legitimately behind and must hold clients instead.
final class Ticker {
    private let store: MessageStore
    private let feeds: LiveFeeds
    private let live: LiveService
    private let reporter: Reporter
    /// The highest message id this worker has fetched and fanned out.
    private(set) var lastSeen: Int64
    /// The highest id the database had assigned when this worker last looked (see `MessageStore+Epoch.swift`).
    private var highWater: Int64
    private var lastDataVersion: Int64
    /// This worker wrote (or a burst is being taken in slices): look now, not at the next poll.
    private(set) var wroteSinceTick = false
    /// When a tick last found `lastSeen` to be the newest message (monotonic milliseconds).
    private var currentAt: UInt64?
    private let clock = MonotonicClock()

    init(store: MessageStore, feeds: LiveFeeds, live: LiveService, reporter: Reporter) throws {
        self.store = store
        self.feeds = feeds
        self.live = live
        self.reporter = reporter
        lastSeen = try store.maxMessageID()
        highWater = try store.newestAssignedID()
        lastDataVersion = try store.dataVersion()
    }

    /// Whether `lastSeen` was the newest message at most `milliseconds` ago and nothing was written here since (nor
    /// is a burst being sliced): a cursor at it is then behind by at most what arrived in that moment, which every
    /// subscriber of this worker receives live anyway.
    func lastSeenIsCurrent(within milliseconds: UInt64) -> Bool {
        guard !wroteSinceTick, let currentAt else { return false }
        return clock.nowMilliseconds - currentAt <= milliseconds
    }

    /// A post stored messages: the next loop turn ticks at once.
    func noteWrite() { wroteSinceTick = true }

    /// Whether anything was written (here or by another process) since the last tick looked: one
    /// `PRAGMA data_version`, asked once per tick.
    func changedSinceTick() -> Bool {
        wroteSinceTick || ((try? store.dataVersion()) ?? lastDataVersion) != lastDataVersion
    }

    func tick() {
        // A fan-out still going (ChannelFeed.continueFanOut) finishes before anything newer is sent.
        guard !feeds.channel.fanOutPending else { return }
        let checkedAt = clock.nowMilliseconds
        currentAt = nil
        do {
            let version = try store.dataVersion()
            let changed = version != lastDataVersion || wroteSinceTick
            if changed {
                feeds.channel.databaseChanged()
                lastDataVersion = version
                wroteSinceTick = false
                try checkIdentity()
            }
            let nowMilliseconds = Timestamp.nowUnixMilliseconds()
            func due(_ feed: any LiveFeed) -> Bool {
                feed.subscriberCount > 0 && feed.wantsTick(databaseChanged: changed, nowMilliseconds: nowMilliseconds)
            }
            guard feeds.all.contains(where: due) else {
                if changed { lastSeen = max(lastSeen, try store.maxMessageID()) }
                currentAt = checkedAt
                return
            }
            let touched: [LiveSession] = try store.read {
                var newMax = lastSeen
                if changed { newMax = max(lastSeen, try store.maxMessageID()) }
                // A burst (an import, a backlog after a stall) is taken a bounded slice per tick, so memory stays
                // flat; the next loop turn continues where this one stopped.
                // Ids come from the database: a gap that overflows (a foreign id near Int64.min) is a burst too.
                let (gap, overflow) = newMax.subtractingReportingOverflow(lastSeen)
                if overflow || gap > Int64(ChannelFeed.maxRowsPerTick),
                    let cut = try store.messages(after: lastSeen, limit: ChannelFeed.maxRowsPerTick).last?.id,
                    cut < newMax
                {
                    newMax = cut
                    wroteSinceTick = true
                }
                let context = FeedContext(store: store, from: lastSeen, through: newMax, outlet: live)
                for feed in feeds.all where due(feed) { try feed.publish(context) }
                lastSeen = newMax
                return context.touched
            }
            currentAt = checkedAt  // unless a burst was cut (`wroteSinceTick` says so)
            for s in touched {
                s.touched = false
                live.flush(s)
            }
        } catch {
            reporter.log(.warning, .pollFailed, ["error": .string("\(error)")])
        }
    }

    /// Moves catch-up subscribers forward one bounded batch (see `ChannelFeed.serviceReplays`).
    func serviceReplays() {
        guard feeds.channel.hasReplays else { return }
        feeds.channel.serviceReplays(FeedContext(store: store, from: lastSeen, through: lastSeen, outlet: live))
    }

    // MARK: identity

    /// Runs when the database changed (data_version moved), before new rows are fanned out.
    private func checkIdentity() throws {
        let stored = try store.storedEpoch() ?? store.epoch
        let newest = try store.newestAssignedID()
        if stored != store.epoch {
            adopt(epoch: stored)
        } else if newest < highWater && store.readOnly {
            // A follower's replica went back (restored from an older snapshot): the primary still has those ids,
            // so clients keep their cursors and are held until the replica has them again.
            reporter.log(.warning, .databaseWentBackwards, [
                "served_id": .int(highWater), "newest_id": .int(newest), "epoch": .string(store.epoch),
                "replica": .string("follower"),
            ])
        } else if newest < highWater {
            let previous = store.epoch
            let (epoch, renewed) = try store.renewEpoch(replacing: previous)
            if renewed {
                reporter.log(.warning, .databaseWentBackwards, [
                    "served_id": .int(highWater), "newest_id": .int(newest), "epoch": .string(epoch),
                    "previous_epoch": .string(previous),
                ])
            }
            adopt(epoch: epoch)
        }
        highWater = newest
    }

    private func adopt(epoch: String) {
        store.epoch = epoch
        lastSeen = (try? store.maxMessageID()) ?? lastSeen
        live.closeAll(code: .epochChanged, state: "epoch_changed", reason: "the database was replaced or restored; reload")
    }
}
