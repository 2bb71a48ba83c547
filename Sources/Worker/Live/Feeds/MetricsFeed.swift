import LivefeedProtocol

/// `/live/metrics`: the archive's totals (`metrics` envelopes, or the `#totals` fragment).
final class MetricsFeed: LiveFeed {
    private var subscribers: [UInt64: LiveSession] = [:]
    var subscriberCount: Int { subscribers.count }

    func subscribe(_ c: LiveSession, after: Int64?, _ context: FeedContext) throws {
        subscribers[c.id] = c
        try context.store.read {
            let t = try context.totals()
            c.enqueueSnapshot(key: 0, frame(t, cursor: t.lastMessageID, context, c.format))
            c.cursor = t.lastMessageID
        }
    }

    func unsubscribe(_ c: LiveSession) { subscribers[c.id] = nil }

    func publish(_ context: FeedContext) throws {
        guard context.hasNewRows else { return }
        let t = try context.totals()
        var json: SharedBytes?
        var html: SharedBytes?
        for c in subscribers.values {
            let bytes: SharedBytes
            switch c.format {
            case .json:
                if json == nil { json = frame(t, cursor: context.through, context, .json) }
                bytes = json!
            case .html:
                if html == nil { html = frame(t, cursor: context.through, context, .html) }
                bytes = html!
            }
            c.enqueueSnapshot(key: 0, bytes)
            c.cursor = context.through
            context.touch(c)
        }
    }

    private func frame(_ t: Totals, cursor: Int64, _ context: FeedContext, _ format: LiveFormat) -> SharedBytes {
        var frame = SharedFrame()
        return frame.bytes(format,
            json: {
                Envelope.snapshot(.metrics, cursor: cursor, epoch: context.epoch, now: context.now) { w in
                    w.field("messages", t.messages)
                    w.field("channels", t.channels)
                    w.field("users", t.users)
                }
            },
            html: { Fragments.totals(messages: t.messages, channels: t.channels, users: t.users, cursor: cursor, live: true) })
    }
}
