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
        var json: [SharedBytes]?
        var html: [SharedBytes]?
        /// All of a format's frames in one buffer, for the subscribers that need every one of them and have
        /// nothing queued (nearly all): one send(2) of one buffer per subscriber.
        var jsonWhole: SharedBytes?
        var htmlWhole: SharedBytes?
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

    /// One tick's frames for one channel and the subscribers still to get them.
    private final class FanOut {
        var tick: ChannelTick
        let sessions: [LiveSession]
        let context: FeedContext
        var next = 0

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
            // A local copy for the batch (the frames it builds go back after): an inout access to the job's own
            // property would be checked for exclusivity at run time, per subscriber.
            var tick = job.tick
            let context = job.context
            // Loaded once per batch: a reference taken per delivery costs a retain and a release each time.
            let outlet = context.outlet
            let sessions = job.sessions
            for s in sessions[job.next..<end] where s.channelPhase == .live {
                // deliver() writes (or queues behind EPOLLOUT) itself: no second flush at the end of the tick.
                deliver(&tick, to: s, context, outlet)
            }
            job.tick = tick
            budget -= end - job.next
            job.next = end
            if end == job.sessions.count { fanOuts.removeFirst() }
        }
    }

    /// Gives one live subscriber this tick's frames: the messages after its cursor, then the channel's count. A
    /// subscriber with nothing queued gets them in one write straight from the shared buffers (the tick's one
    /// buffer with send(2) when it needs all of them); one that is behind gets them queued within its bound, and
    /// past the bound it is a slow consumer.
    private func deliver(_ tick: inout ChannelTick, to c: LiveSession, _ context: FeedContext, _ outlet: LiveOutlet) {
        let newMax = context.through
        let frames: [SharedBytes]
        switch c.format {
        case .json:
            if tick.json == nil { tick.json = encode(tick, .json, context) }
            frames = tick.json!
        case .html:
            if tick.html == nil { tick.html = encode(tick, .html, context) }
            frames = tick.html!
        }
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
            outlet.deliver(c, whole(&tick, c.format, frames))
        } else {
            outlet.deliver(c, slice)
        }
    }

    /// The format's frames as one buffer: the frame itself when there is one, else joined once per tick.
    private func whole(_ tick: inout ChannelTick, _ format: LiveFormat, _ frames: [SharedBytes]) -> SharedBytes {
        if frames.count == 1 { return frames[0] }
        if let done = format == .json ? tick.jsonWhole : tick.htmlWhole { return done }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(frames.reduce(0) { $0 + $1.count })
        for f in frames { bytes.append(contentsOf: UnsafeRawBufferPointer(start: f.base, count: f.count)) }
        let one = SharedBytes(bytes)
        if format == .json { tick.jsonWhole = one } else { tick.htmlWhole = one }
        return one
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
