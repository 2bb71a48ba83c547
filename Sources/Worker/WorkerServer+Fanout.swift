import Glibc
import LivefeedProtocol

/// The tick: one look at the database per loop turn for every feed, and the writes the feeds ask for.
extension WorkerServer: LiveOutlet {
    func subscribe(_ c: Connection, after: Int64?) {
        guard let route = c.target, let feed = feeds.feed(for: route) else { return }
        do {
            try feed.subscribe(c, to: route, after: after, FeedContext(store: store, from: lastSeen, through: lastSeen, outlet: self))
        } catch {
            reporter.log(.warning, .subscribeFailed, ["error": .string("\(error)")])
            closeLive(c, code: .internalError, state: "error", reason: "the database is unavailable", retryAfterMilliseconds: 1000)
            return
        }
        flush(c)
    }

    func unsubscribe(_ c: Connection) {
        guard let route = c.target, let feed = feeds.feed(for: route) else { return }
        feed.unsubscribe(c, from: route)
    }

    func deliver(_ c: Connection, _ frames: ArraySlice<SharedBytes>) {
        settle(c, c.out.send(frames, to: c.fd, scratch: iovScratch) { c.bytesDelivered += $0 })
    }

    /// Looks for rows committed by anyone since the last look and lets every feed that wants this tick publish.
    func poll() {
        do {
            let version = try store.dataVersion()
            let changed = version != lastDataVersion || wroteSinceTick
            if changed {
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
                return
            }
            let touched: [Connection] = try store.read {
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
                let context = FeedContext(store: store, from: lastSeen, through: newMax, outlet: self)
                for feed in feeds.all where due(feed) { try feed.publish(context) }
                lastSeen = newMax
                return context.touched
            }
            for c in touched {
                c.touched = false
                flush(c)
            }
        } catch {
            reporter.log(.warning, .pollFailed, ["error": .string("\(error)")])
        }
    }

    /// Moves catch-up subscribers forward one bounded batch at a time (see `ChannelFeed.serviceReplays`).
    func serviceReplays() {
        guard feeds.channel.hasReplays else { return }
        feeds.channel.serviceReplays(FeedContext(store: store, from: lastSeen, through: lastSeen, outlet: self)) {
            flush($0)
        }
    }
}
