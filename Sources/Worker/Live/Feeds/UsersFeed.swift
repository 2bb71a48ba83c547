import LivefeedProtocol

/// `/live/users`: every user's count (`user_count`), the changed ones each tick.
final class UsersFeed: LiveFeed {
    private var subscribers: [UInt64: LiveSession] = [:]
    var subscriberCount: Int { subscribers.count }

    func subscribe(_ c: LiveSession, after: Int64?, _ context: FeedContext) throws {
        subscribers[c.id] = c
        try context.store.read {
            let cursor = try context.store.maxMessageID()
            for u in try context.store.users() {
                var frame = SharedFrame()
                c.enqueueSnapshot(
                    key: u.id, LiveFrames.user(u, type: .userCount, cursor: cursor, context, c.format, &frame))
            }
            c.cursor = cursor
        }
    }

    func unsubscribe(_ c: LiveSession) { subscribers[c.id] = nil }

    func publish(_ context: FeedContext) throws {
        guard context.hasNewRows else { return }
        for u in try context.usersChanged() {
            var frame = SharedFrame()
            for c in subscribers.values {
                c.enqueueSnapshot(
                    key: u.id,
                    LiveFrames.user(u, type: .userCount, cursor: context.through, context, c.format, &frame))
                c.cursor = context.through
                context.touch(c)
            }
        }
    }
}
