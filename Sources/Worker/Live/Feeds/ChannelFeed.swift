import LivefeedProtocol

/// `/live/channels/{id}`: the channel's messages in id order, each once (`message`), then its count
/// (`channel_count`), at most once per `countIntervalMilliseconds` per channel: the first change goes at once, later
/// ones ride with the channel's messages once the interval has passed, and the newest goes on its own once the
/// channel is quiet for an interval, so a busy channel does not double its frames. A tick's fan-out goes
/// `fanOutBudget` subscribers per loop turn. A subscriber that resumes behind is replayed from the database in
/// bounded batches, only while its queue is short; one that falls further behind than its queue bound is a slow
/// consumer and is closed with the cursor to resume from.
final class ChannelFeed: LiveFeed {
    static let maxRowsPerTick = 1000
    static let countIntervalMilliseconds: Int64 = 250

    /// Where a subscriber stands: replaying history from the database, or receiving live frames.
    enum Phase {
        case none
        case replaying
        case live
    }

    private let config: WorkerConfig
    private var subscribers = SubscriberGroups()
    private var replaying: [UInt64: LiveSession] = [:]
    /// Per watched channel: when its count last went out, and when a held-back count is due.
    private var countSentAt: [Int64: Int64] = [:]
    private var countDue: [Int64: Int64] = [:]
    private var nextCountDue = Int64.max
    /// Channel rows read since the database last changed, for upgrades and first counts: a burst of joins costs
    /// one query per channel, not two per subscriber. Dropped when a tick sees the database change, and used only
    /// while the ticker says what it saw is current (`Ticker.lastSeenIsCurrent`: it looked within 100 ms and
    /// nothing was written here since), so an idle worker's first join after a quiet hour reads afresh. A channel
    /// that does not exist is looked up every time.
    private var knownChannels: [Int64: ChannelRow] = [:]
    static let maxKnownChannels = 4096
    var subscriberCount: Int { subscribers.count }
    var hasReplays: Bool { !replaying.isEmpty }

    init(config: WorkerConfig) { self.config = config }

    /// `context.through` is the highest id this worker has fanned out: a cursor below it is replayed first.
    func subscribe(_ c: LiveSession, after: Int64?, _ context: FeedContext) throws {
        guard case .channel(let id) = c.route else { return }
        // A cursor at or beyond the newest message a moment ago (the tick's last look, within
        // `Worker.currentWithinMilliseconds`) is not behind: what follows comes with the ticks, bounded per tick like
        // every subscriber's. A replay, or a worker that has not looked lately, counts the backlog.
        if let after, after < context.through || !context.throughIsCurrent {
            // Counted against the database, not this worker's last look, so rows written a moment ago count.
            let backlog = try context.store.backlog(id, after: after, limit: config.maxBacklog + 1)
            if backlog > config.maxBacklog {
                context.outlet.closeLive(c, code: .tooFarBehind, state: "too_far_behind",
                    reason: "more than \(config.maxBacklog) messages behind: reload, or page through "
                        + "/api/channels/\(id)/messages?after_id=\(after)",
                    retryAfterMilliseconds: nil)
                return
            }
        }
        if let after, after < context.through {
            c.cursor = after
            c.channelPhase = .replaying
            replaying[c.id] = c
        } else {
            c.cursor = after ?? context.through
            c.channelPhase = .live
            sendCount(c, id, context)
        }
        subscribers.add(c, to: id)
    }

    /// Channel `id`, nil when it does not exist: as known since the database's last change when `current` (the
    /// ticker's view is, see `knownChannels`), else read now.
    func channel(_ id: Int64, _ store: MessageStore, current: Bool) throws -> ChannelRow? {
        if current, let row = knownChannels[id] { return row }
        guard let row = try store.channel(id) else { return nil }
        if knownChannels.count >= Self.maxKnownChannels { knownChannels.removeAll(keepingCapacity: true) }
        knownChannels[id] = row
        return row
    }

    /// A tick saw the database change (own write, another process's, a replaced file): known rows are stale.
    func databaseChanged() { knownChannels.removeAll(keepingCapacity: true) }

    func unsubscribe(_ c: LiveSession) {
        c.channelPhase = .none
        replaying[c.id] = nil
        guard case .channel(let id) = c.route else { return }
        subscribers.remove(c, from: id)
        if subscribers[id] == nil {
            countSentAt[id] = nil
            countDue[id] = nil
        }
    }

    /// A held-back count makes a tick even when nothing was written.
    func wantsTick(databaseChanged: Bool, nowMilliseconds: Int64) -> Bool {
        databaseChanged || nowMilliseconds >= nextCountDue
    }

    /// A catch-up paused while the socket was full continues (called when its queue drains).
    func resume(_ c: LiveSession) {
        if c.channelPhase == .replaying { replaying[c.id] = c }
    }

    private func sendCount(_ c: LiveSession, _ id: Int64, _ context: FeedContext) {
        guard let ch = try? channel(id, context.store, current: context.throughIsCurrent) else { return }
        var frame = SharedFrame()
        // The count may already include rows this worker has not fanned out yet; its cursor must not claim them,
        // or the resume point would skip them.
        c.enqueueSnapshot(key: -1, LiveFrames.channelCount(ch, cursor: c.cursor, context, c.format, &frame))
    }

    // MARK: the tick

    /// One channel's share of a tick: its new messages' frames (per format, built on first use) followed by its
    /// count.
    private struct ChannelTick {
        var ids: [Int64] = []
        var messages: [ChatMessage] = []
        var count: ChannelRow?
    }

    func publish(_ context: FeedContext) throws {
        let now = context.nowMilliseconds
        // Group this tick's messages by channel; each channel's frames are built once per format.
        var ticks: [Int64: ChannelTick] = [:]
        if context.hasNewRows {
            for m in try context.store.messages(after: context.from, upTo: context.through, limit: Self.maxRowsPerTick)
            where subscribers[m.channelID] != nil {
                ticks[m.channelID, default: ChannelTick()].ids.append(m.id)
                ticks[m.channelID, default: ChannelTick()].messages.append(m)
            }
            for ch in try context.channelsChanged() where subscribers[ch.id] != nil {
                if let sent = countSentAt[ch.id], now - sent < Self.countIntervalMilliseconds {
                    // Held back: it rides with this channel's next messages once the interval has passed, and goes
                    // on its own only when the channel has been quiet for an interval (a write of its own costs
                    // every subscriber a syscall; riding along costs a few bytes).
                    countDue[ch.id] = now + Self.countIntervalMilliseconds
                } else {
                    ticks[ch.id, default: ChannelTick()].count = ch
                    countSentAt[ch.id] = now
                    countDue[ch.id] = nil
                }
            }
        }
        if now >= nextCountDue {
            for (id, due) in countDue where due <= now {
                countDue[id] = nil
                guard subscribers[id] != nil, let ch = try context.store.channel(id) else { continue }
                ticks[id, default: ChannelTick()].count = ch
                countSentAt[id] = now
            }
        }
        nextCountDue = countDue.values.min() ?? .max
        for (channel, tick) in ticks {
            guard let watching = subscribers[channel] else { continue }
            fanOuts.append(FanOut(tick: tick, sessions: watching, context: context))
        }
        continueFanOut()
    }

    // MARK: fan-out

    /// One format's frames for a tick, built when the first subscriber of that format needs them: each frame, and
    /// all of them in one buffer (the frame itself when there is one) for the subscribers that need every one and
    /// have nothing queued (nearly all): one send(2) of one buffer each.
    private struct Prepared {
        let frames: [SharedBytes]
        let whole: SharedBytes
    }

    /// Stands in for a format whose frames are not built yet (never delivered: see `continueFanOut`).
    private let unprepared = Prepared(frames: [], whole: SharedBytes([]))

    /// One tick's frames for one channel and the subscribers still to get them.
    private final class FanOut {
        let tick: ChannelTick
        let sessions: [LiveSession]
        let context: FeedContext
        var next = 0
        var json: Prepared?
        var html: Prepared?

        init(tick: ChannelTick, sessions: [LiveSession], context: FeedContext) {
            self.tick = tick
            self.sessions = sessions
            self.context = context
        }
    }

    /// Deliveries per loop turn. A fan-out to more subscribers goes on over the next turns, with the other
    /// connections (a publisher waiting for its answer, handshakes) served in between: one message per request
    /// at 100/s to 10,000 subscribers held the publisher to ~70/s while each tick's fan-out held the loop.
    static let fanOutBudget = 256
    private var fanOuts: [FanOut] = []
    /// The next tick waits until this is false, so each subscriber's frames stay in tick order.
    var fanOutPending: Bool { !fanOuts.isEmpty }

    /// Delivers the pending fan-outs to at most `fanOutBudget` subscribers, oldest first.
    func continueFanOut() {
        var budget = Self.fanOutBudget
        while budget > 0, let job = fanOuts.first {
            let end = min(job.sessions.count, job.next + budget)
            // Everything a delivery reads is loaded once per batch into locals and passed down borrowed, and the
            // batch is indexed rather than iterated: a reference taken per delivery costs a retain and a release.
            // One per delivery is left, from five (uprobe counts); at 1k x 100 swift_retain and swift_release fell
            // from 2.5 % to 1.2 % of the fan-out worker's samples, though the cache misses on each subscriber's
            // objects stay (they move into this loop), so the worker's user space fell by 0.5-1 point in all.
            let tick = job.tick
            let context = job.context
            let outlet = context.outlet
            let sessions = job.sessions
            var i = job.next
            while i < end {
                // This run's frames are constants, so each delivery borrows them (a local that could still change
                // would make it take references of its own). A subscriber whose format has no frames yet ends the
                // run: they are built (once per format and tick) and the next run starts with it.
                let json = job.json ?? unprepared
                let html = job.html ?? unprepared
                let haveJSON = job.json != nil
                let haveHTML = job.html != nil
                var missing: LiveFormat?
                while i < end {
                    // `sessions` holds every one of them until the batch ends: borrowed, not retained per delivery.
                    missing = Unmanaged.passUnretained(sessions[i])._withUnsafeGuaranteedRef { s -> LiveFormat? in
                        guard s.channelPhase == .live else { return nil }
                        // deliver() writes (or queues behind EPOLLOUT) itself: no flush at the end of the tick.
                        switch s.format {
                        case .json:
                            guard haveJSON else { return .json }
                            deliver(tick, json, to: s, context, outlet)
                        case .html:
                            guard haveHTML else { return .html }
                            deliver(tick, html, to: s, context, outlet)
                        }
                        return nil
                    }
                    if missing != nil { break }
                    i += 1
                }
                switch missing {
                case .json?: job.json = prepare(tick, .json, context)
                case .html?: job.html = prepare(tick, .html, context)
                case nil: break
                }
            }
            budget -= end - job.next
            job.next = end
            if end == job.sessions.count { fanOuts.removeFirst() }
        }
    }

    /// Gives one live subscriber this tick's frames: the messages after its cursor, then the channel's count. A
    /// subscriber with nothing queued gets them in one write straight from the shared buffers (the tick's one
    /// buffer with send(2) when it needs all of them); one that is behind gets them queued within its bound, and
    /// past the bound it is a slow consumer.
    private func deliver(
        _ tick: ChannelTick, _ prepared: Prepared, to c: LiveSession, _ context: FeedContext, _ outlet: LiveOutlet
    ) {
        let newMax = context.through
        let frames = prepared.frames
        // Ids ascend, so the frames this subscriber still needs are a suffix.
        let first = tick.ids.firstIndex { $0 > c.cursor } ?? tick.ids.count
        let messageCount = tick.ids.count - first
        // A subscriber that resumed ahead of this worker keeps its cursor until the worker catches up.
        let withCount = tick.count != nil && c.cursor <= newMax
        let end = frames.count - (tick.count != nil && !withCount ? 1 : 0)
        guard first < end else { return }
        let slice = frames[first..<end]
        let idle = c.connection.out.isEmpty && !c.hasPendingSnapshots
        if !idle {
            let bytes = slice.reduce(0) { $0 + $1.count }
            if c.connection.out.byteCount + bytes > config.maxQueueBytes || c.connection.out.chunkCount + slice.count > config.maxQueueFrames {
                // What is queued stays queued: the status follows it, so its resume hint is exactly the cursor of
                // the last frame before it. This tick's frames are the dropped ones.
                c.framesDropped += slice.count
                outlet.closeLive(c, code: .tryAgainLater, state: "slow_consumer",
                    reason: "the client did not keep up; resume with after_id=\(c.cursor)", retryAfterMilliseconds: 1000)
                return
            }
        }
        c.framesQueued += slice.count
        if messageCount > 0 { c.cursor = tick.ids[tick.ids.count - 1] }
        if withCount { c.cursor = max(c.cursor, newMax) }
        if idle && slice.count == frames.count {
            outlet.deliver(c, prepared.whole)
        } else {
            outlet.deliver(c, slice)
        }
    }

    /// The tick's frames in `format`, each and joined.
    private func prepare(_ tick: ChannelTick, _ format: LiveFormat, _ context: FeedContext) -> Prepared {
        let frames = encode(tick, format, context)
        if frames.count == 1 { return Prepared(frames: frames, whole: frames[0]) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(frames.reduce(0) { $0 + $1.count })
        for f in frames { bytes.append(contentsOf: UnsafeRawBufferPointer(start: f.base, count: f.count)) }
        return Prepared(frames: frames, whole: SharedBytes(bytes))
    }

    private func encode(_ tick: ChannelTick, _ format: LiveFormat, _ context: FeedContext) -> [SharedBytes] {
        var frames: [SharedBytes] = []
        frames.reserveCapacity(tick.messages.count + 1)
        for m in tick.messages {
            var frame = SharedFrame()
            frames.append(LiveFrames.message(m, context, format, &frame))
        }
        if let ch = tick.count {
            var frame = SharedFrame()
            frames.append(LiveFrames.channelCount(ch, cursor: context.through, context, format, &frame))
        }
        return frames
    }

    // MARK: replays

    /// Moves catch-up subscribers forward one bounded batch at a time, only while their queue is short.
    /// `context.through` is the highest id fanned out live: replays stop there and join the live feed.
    func serviceReplays(_ context: FeedContext) {
        guard !replaying.isEmpty else { return }
        for c in Array(replaying.values) {
            guard !c.connection.closed, c.channelPhase == .replaying, case .channel(let channel) = c.route else {
                replaying[c.id] = nil
                continue
            }
            // Top up only below half the bound, and only with what fits in it: a client that does not read holds
            // at most its bound, however large the backlog.
            let byteBudget = config.maxQueueBytes - c.connection.out.byteCount
            let frameBudget = config.maxQueueFrames - c.connection.out.chunkCount
            if c.connection.out.byteCount > config.maxQueueBytes / 2 || frameBudget < 1 {
                replaying[c.id] = nil  // resume() brings it back once the socket drains
                continue
            }
            do {
                let rows = try context.store.channelMessages(
                    channel, after: c.cursor, upTo: context.through, limit: min(config.replayBatch, frameBudget))
                var used = 0
                var taken = 0
                for m in rows {
                    var frame = SharedFrame()
                    let bytes = LiveFrames.message(m, context, c.format, &frame)
                    if taken > 0 && used + bytes.count > byteBudget { break }
                    used += bytes.count
                    taken += 1
                    c.connection.out.append(bytes)
                    c.framesQueued += 1
                    c.replayed += 1
                    c.cursor = m.id
                }
                if taken == rows.count && rows.count < min(config.replayBatch, frameBudget) {
                    c.channelPhase = .live
                    replaying[c.id] = nil
                    sendCount(c, channel, context)
                }
            } catch {
                replayFailed(error)
            }
            context.outlet.flush(c)
            if c.connection.writeRegistered { replaying[c.id] = nil }
        }
    }

    /// Set by the owner: how a failed replay read is reported.
    var replayFailed: (any Error) -> Void = { _ in }
}
