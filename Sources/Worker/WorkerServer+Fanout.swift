import Glibc
import LivefeedProtocol

/// A frame encoded at most once per format, then shared by every subscriber that wants it.
struct SharedFrame {
    private var json: SharedBytes?
    private var html: SharedBytes?

    mutating func bytes(_ format: LiveFormat, json makeJSON: () -> [UInt8], html makeHTML: () -> String) -> SharedBytes {
        switch format {
        case .json:
            if let json { return json }
            let frame = SharedBytes(WebSocketFrameEncoder.frame(.text, payload: makeJSON()))
            json = frame
            return frame
        case .html:
            if let html { return html }
            let frame = SharedBytes(WebSocketFrameEncoder.frame(.text, payload: Array(makeHTML().utf8)))
            html = frame
            return frame
        }
    }
}

/// One channel's share of a tick: its new messages' frames (per format, built on first use) followed by its count.
struct ChannelTick {
    var ids: [Int64] = []
    var messages: [ChatMessage] = []
    var json: [SharedBytes]?
    var html: [SharedBytes]?
    var count: ChannelRow?
}

/// Subscriptions and fan-out: one database look per tick for all subscribers, each envelope encoded once per
/// format, the same bytes queued for every subscriber, one writev per subscriber per tick.
extension WorkerServer {
    static let maxRowsPerTick = 1000

    var hasSubscribers: Bool {
        !channelSubscribers.isEmpty || !userSubscribers.isEmpty || !metricsSubscribers.isEmpty
            || !channelListSubscribers.isEmpty || !userListSubscribers.isEmpty
    }

    func subscribe(_ c: Connection, after: Int64?) {
        guard let target = c.target else { return }
        do {
            switch target {
            case .echo:
                return
            case .metrics:
                metricsSubscribers[c.id] = c
                try store.read {
                    let t = try store.totals()
                    c.enqueueSnapshot(key: 0, metricsFrame(t, cursor: t.lastMessageID, format: c.format, now: Timestamp.now()))
                    c.cursor = t.lastMessageID
                }
            case .channels:
                channelListSubscribers[c.id] = c
                try store.read {
                    let cursor = try store.maxMessageID()
                    let now = Timestamp.now()
                    for ch in try store.channels() {
                        var frame = SharedFrame()
                        c.enqueueSnapshot(key: ch.id, channelCountFrame(ch, cursor: cursor, format: c.format, now: now, &frame))
                    }
                    c.cursor = cursor
                }
            case .users:
                userListSubscribers[c.id] = c
                try store.read {
                    let cursor = try store.maxMessageID()
                    let now = Timestamp.now()
                    for u in try store.users() {
                        var frame = SharedFrame()
                        c.enqueueSnapshot(key: u.id, userFrame(u, type: .userCount, cursor: cursor, format: c.format, now: now, &frame))
                    }
                    c.cursor = cursor
                }
            case .user(let id):
                userSubscribers[id, default: [:]][c.id] = c
                try store.read {
                    let cursor = try store.maxMessageID()
                    if let u = try store.user(id) {
                        var frame = SharedFrame()
                        c.enqueueSnapshot(key: id, userFrame(u, type: .userProfile, cursor: cursor, format: c.format, now: Timestamp.now(), &frame))
                    }
                    c.cursor = cursor
                }
            case .channel(let id):
                if let after {
                    // Counted against the database, not this worker's last look, so rows written a moment ago count.
                    let backlog = try store.backlog(id, after: after, limit: config.maxBacklog + 1)
                    if backlog > config.maxBacklog {
                        closeLive(c, code: .tooFarBehind, state: "too_far_behind",
                            reason: "more than \(config.maxBacklog) messages behind: reload, or page through "
                                + "/api/channels/\(id)/messages?after_id=\(after)",
                            retryAfterMilliseconds: nil)
                        return
                    }
                }
                if let after, after < lastSeen {
                    c.cursor = after
                    c.feed = .replaying
                    replaying[c.id] = c
                } else {
                    c.cursor = after ?? lastSeen
                    c.feed = .live
                    sendChannelCount(c, id)
                }
                channelSubscribers[id, default: [:]][c.id] = c
            }
        } catch {
            reporter.log(.warning, .subscribeFailed, ["error": .string("\(error)")])
            closeLive(c, code: .internalError, state: "error", reason: "the database is unavailable", retryAfterMilliseconds: 1000)
            return
        }
        flush(c)
    }

    func unsubscribe(_ c: Connection) {
        c.feed = .none
        replaying[c.id] = nil
        switch c.target {
        case .metrics?: metricsSubscribers[c.id] = nil
        case .channels?: channelListSubscribers[c.id] = nil
        case .users?: userListSubscribers[c.id] = nil
        case .channel(let id)?:
            channelSubscribers[id]?[c.id] = nil
            if channelSubscribers[id]?.isEmpty == true { channelSubscribers[id] = nil }
        case .user(let id)?:
            userSubscribers[id]?[c.id] = nil
            if userSubscribers[id]?.isEmpty == true { userSubscribers[id] = nil }
        case .echo?, nil: break
        }
    }

    private func sendChannelCount(_ c: Connection, _ id: Int64) {
        guard let ch = try? store.channel(id) else { return }
        var frame = SharedFrame()
        // The count may already include rows this worker has not fanned out yet; its cursor must not claim them,
        // or the resume point would skip them.
        c.enqueueSnapshot(key: -1, channelCountFrame(ch, cursor: c.cursor, format: c.format, now: Timestamp.now(), &frame))
    }

    // MARK: frames

    func metricsFrame(_ t: Totals, cursor: Int64, format: LiveFormat, now: String) -> SharedBytes {
        var frame = SharedFrame()
        return frame.bytes(format,
            json: {
                Envelope.snapshot(.metrics, cursor: cursor, epoch: store.epoch, now: now) { w in
                    w.field("messages", t.messages)
                    w.field("channels", t.channels)
                    w.field("users", t.users)
                }
            },
            html: { Fragments.totals(messages: t.messages, channels: t.channels, users: t.users, cursor: cursor, live: true) })
    }

    func channelCountFrame(_ ch: ChannelRow, cursor: Int64, format: LiveFormat, now: String, _ frame: inout SharedFrame) -> SharedBytes {
        frame.bytes(format,
            json: {
                Envelope.count(.channelCount, id: ch.id, name: ch.name, messageCount: ch.messageCount,
                    lastMessageID: ch.lastMessageID, cursor: cursor, epoch: store.epoch, now: now)
            },
            html: { Fragments.count(.channel, id: ch.id, count: ch.messageCount, cursor: cursor) })
    }

    func userFrame(_ u: UserRow, type: EnvelopeType, cursor: Int64, format: LiveFormat, now: String, _ frame: inout SharedFrame) -> SharedBytes {
        frame.bytes(format,
            json: {
                Envelope.count(type, id: u.id, name: u.name, messageCount: u.messageCount,
                    lastMessageID: u.lastMessageID, cursor: cursor, epoch: store.epoch, now: now)
            },
            html: { Fragments.count(.user, id: u.id, count: u.messageCount, cursor: cursor) })
    }

    private func messageFrame(_ m: ChatMessage, format: LiveFormat, now: String, _ frame: inout SharedFrame) -> SharedBytes {
        frame.bytes(format,
            json: { Envelope.message(m, epoch: store.epoch, now: now) },
            html: { Fragments.messages(CollectionOfOne(m), cursor: m.id) })
    }

    // MARK: the tick

    /// Looks for rows committed by anyone since the last look and fans them out.
    func poll() {
        do {
            let version = try store.dataVersion()
            guard version != lastDataVersion || wroteSinceTick else { return }
            lastDataVersion = version
            wroteSinceTick = false
            try checkIdentity()
            guard hasSubscribers else {
                lastSeen = max(lastSeen, try store.maxMessageID())
                return
            }
            var touched: [Connection] = []
            func touch(_ c: Connection) {
                if !c.touched {
                    c.touched = true
                    touched.append(c)
                }
            }
            try store.read {
                var newMax = try store.maxMessageID()
                guard newMax > lastSeen else { return }
                // A burst (an import, a backlog after a stall) is taken a bounded slice per tick, so memory stays
                // flat; the next loop turn continues where this one stopped.
                // Ids come from the database: a gap that overflows (a foreign id near Int64.min) is a burst too.
                let (gap, overflow) = newMax.subtractingReportingOverflow(lastSeen)
                if overflow || gap > Int64(Self.maxRowsPerTick),
                    let cut = try store.messages(after: lastSeen, limit: Self.maxRowsPerTick).last?.id, cut < newMax
                {
                    newMax = cut
                    wroteSinceTick = true
                }
                let now = Timestamp.now()
                // Group this tick's messages by channel; each channel's frames are built once per format.
                var ticks: [Int64: ChannelTick] = [:]
                if !channelSubscribers.isEmpty {
                    for m in try store.messages(after: lastSeen, upTo: newMax, limit: Self.maxRowsPerTick)
                    where channelSubscribers[m.channelID] != nil {
                        ticks[m.channelID, default: ChannelTick()].ids.append(m.id)
                        ticks[m.channelID, default: ChannelTick()].messages.append(m)
                    }
                }
                if !channelListSubscribers.isEmpty || !channelSubscribers.isEmpty {
                    for ch in try store.channelsChanged(after: lastSeen) {
                        var frame = SharedFrame()
                        for c in channelListSubscribers.values {
                            c.enqueueSnapshot(key: ch.id, channelCountFrame(ch, cursor: newMax, format: c.format, now: now, &frame))
                            c.cursor = newMax
                            touch(c)
                        }
                        if channelSubscribers[ch.id] != nil { ticks[ch.id, default: ChannelTick()].count = ch }
                    }
                }
                for (channel, var tick) in ticks {
                    guard let subscribers = channelSubscribers[channel] else { continue }
                    for c in subscribers.values where c.feed == .live {
                        // deliver() writes (or queues behind EPOLLOUT) itself: no second flush at the end of the tick.
                        deliver(&tick, to: c, newMax: newMax, now: now)
                    }
                }
                if !userListSubscribers.isEmpty || !userSubscribers.isEmpty {
                    for u in try store.usersChanged(after: lastSeen) {
                        var countFrame = SharedFrame()
                        for c in userListSubscribers.values {
                            c.enqueueSnapshot(key: u.id, userFrame(u, type: .userCount, cursor: newMax, format: c.format, now: now, &countFrame))
                            c.cursor = newMax
                            touch(c)
                        }
                        var profileFrame = SharedFrame()
                        for c in (userSubscribers[u.id] ?? [:]).values {
                            c.enqueueSnapshot(key: u.id, userFrame(u, type: .userProfile, cursor: newMax, format: c.format, now: now, &profileFrame))
                            c.cursor = newMax
                            touch(c)
                        }
                    }
                }
                if !metricsSubscribers.isEmpty {
                    let t = try store.totals()
                    var json: SharedBytes?
                    var html: SharedBytes?
                    for c in metricsSubscribers.values {
                        let frame: SharedBytes
                        switch c.format {
                        case .json:
                            if json == nil { json = metricsFrame(t, cursor: newMax, format: .json, now: now) }
                            frame = json!
                        case .html:
                            if html == nil { html = metricsFrame(t, cursor: newMax, format: .html, now: now) }
                            frame = html!
                        }
                        c.enqueueSnapshot(key: 0, frame)
                        c.cursor = newMax
                        touch(c)
                    }
                }
                lastSeen = newMax
            }
            for c in touched {
                c.touched = false
                flush(c)
            }
        } catch {
            reporter.log(.warning, .pollFailed, ["error": .string("\(error)")])
        }
    }

    /// Gives one live channel subscriber this tick's frames: the messages after its cursor, then the channel's
    /// count. A subscriber with nothing queued gets them in one writev straight from the shared buffers; one that is
    /// behind gets them queued within its bound, and past the bound it is a slow consumer.
    private func deliver(_ tick: inout ChannelTick, to c: Connection, newMax: Int64, now: String) {
        let frames: [SharedBytes]
        switch c.format {
        case .json:
            if tick.json == nil { tick.json = encode(tick, .json, cursor: newMax, now: now) }
            frames = tick.json!
        case .html:
            if tick.html == nil { tick.html = encode(tick, .html, cursor: newMax, now: now) }
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
        if !c.out.isEmpty || !c.pendingSnapshots.isEmpty {
            let bytes = slice.reduce(0) { $0 + $1.count }
            if c.out.byteCount + bytes > config.maxQueueBytes || c.out.chunkCount + slice.count > config.maxQueueFrames {
                // What is queued stays queued: the status follows it, so its resume hint is exactly the cursor of the
                // last frame before it. This tick's frames are the dropped ones.
                c.framesDropped += slice.count
                closeLive(c, code: .tryAgainLater, state: "slow_consumer",
                    reason: "the client did not keep up; resume with after_id=\(c.cursor)", retryAfterMilliseconds: 1000)
                return
            }
        }
        c.framesQueued += slice.count
        if messageCount > 0 { c.cursor = tick.ids[tick.ids.count - 1] }
        if withCount { c.cursor = max(c.cursor, newMax) }
        settle(c, c.out.send(slice, to: c.fd, scratch: iovScratch) { c.bytesDelivered += $0 })
    }

    private func encode(_ tick: ChannelTick, _ format: LiveFormat, cursor: Int64, now: String) -> [SharedBytes] {
        var frames: [SharedBytes] = []
        frames.reserveCapacity(tick.messages.count + 1)
        for m in tick.messages {
            var frame = SharedFrame()
            frames.append(messageFrame(m, format: format, now: now, &frame))
        }
        if let ch = tick.count {
            var frame = SharedFrame()
            frames.append(channelCountFrame(ch, cursor: cursor, format: format, now: now, &frame))
        }
        return frames
    }

    /// Moves catch-up subscribers forward one bounded batch at a time, only while their queue is short.
    func serviceReplays() {
        guard !replaying.isEmpty else { return }
        for c in Array(replaying.values) {
            guard !c.closed, c.feed == .replaying, case .channel(let channel)? = c.target else {
                replaying[c.id] = nil
                continue
            }
            // Top up only below half the bound, and only with what fits in it: a client that does not read holds
            // at most its bound, however large the backlog.
            let byteBudget = config.maxQueueBytes - c.out.byteCount
            let frameBudget = config.maxQueueFrames - c.out.chunkCount
            if c.out.byteCount > config.maxQueueBytes / 2 || frameBudget < 1 {
                replaying[c.id] = nil  // flush() brings it back once the socket drains
                continue
            }
            do {
                let rows = try store.channelMessages(
                    channel, after: c.cursor, upTo: lastSeen, limit: min(config.replayBatch, frameBudget))
                let now = Timestamp.now()
                var used = 0
                var taken = 0
                for m in rows {
                    var frame = SharedFrame()
                    let bytes = messageFrame(m, format: c.format, now: now, &frame)
                    if taken > 0 && used + bytes.count > byteBudget { break }
                    used += bytes.count
                    taken += 1
                    c.out.append(bytes)
                    c.framesQueued += 1
                    c.replayed += 1
                    c.cursor = m.id
                }
                if taken == rows.count && rows.count < min(config.replayBatch, frameBudget) {
                    c.feed = .live
                    replaying[c.id] = nil
                    sendChannelCount(c, channel)
                }
            } catch {
                reporter.log(.warning, .replayFailed, ["error": .string("\(error)")])
            }
            flush(c)
            if c.writeRegistered { replaying[c.id] = nil }
        }
    }
}
