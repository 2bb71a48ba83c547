import LivefeedProtocol

/// `/live/channels`: every channel's count (`channel_count`), the changed ones each tick.
final class ChannelsFeed: LiveFeed {
    private var subscribers: [UInt64: LiveSession] = [:]
    var subscriberCount: Int { subscribers.count }

    func subscribe(_ c: LiveSession, after: Int64?, _ context: FeedContext) throws {
        subscribers[c.id] = c
        try context.store.read {
            let cursor = try context.store.maxMessageID()
            for ch in try context.store.channels() {
                var frame = SharedFrame()
                c.enqueueSnapshot(key: ch.id, LiveFrames.channelCount(ch, cursor: cursor, context, c.format, &frame))
            }
            c.cursor = cursor
        }
    }

    func unsubscribe(_ c: LiveSession) { subscribers[c.id] = nil }

    func publish(_ context: FeedContext) throws {
        guard context.hasNewRows else { return }
        for ch in try context.channelsChanged() {
            var frame = SharedFrame()
            for c in subscribers.values {
                c.enqueueSnapshot(
                    key: ch.id, LiveFrames.channelCount(ch, cursor: context.through, context, c.format, &frame))
                c.cursor = context.through
                context.touch(c)
            }
        }
    }
}
