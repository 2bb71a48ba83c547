import LivefeedProtocol

/// `/live/users/{id}`: one user's profile counts (`user_profile`).
final class UserFeed: LiveFeed {
    private var subscribers = SubscriberGroups()
    var subscriberCount: Int { subscribers.count }

    func subscribe(_ c: LiveSession, after: Int64?, _ context: FeedContext) throws {
        guard case .user(let id) = c.route else { return }
        subscribers.add(c, to: id)
        try context.store.read {
            let cursor = try context.store.maxMessageID()
            if let u = try context.store.user(id) {
                var frame = SharedFrame()
                c.enqueueSnapshot(
                    key: id, LiveFrames.user(u, type: .userProfile, cursor: cursor, context, c.format, &frame))
            }
            c.cursor = cursor
        }
    }

    func unsubscribe(_ c: LiveSession) {
        guard case .user(let id) = c.route else { return }
        subscribers.remove(c, from: id)
    }

    func publish(_ context: FeedContext) throws {
        guard context.hasNewRows else { return }
        for u in try context.usersChanged() {
            guard let watching = subscribers[u.id] else { continue }
            var frame = SharedFrame()
            for c in watching {
                c.enqueueSnapshot(
                    key: u.id,
                    LiveFrames.user(u, type: .userProfile, cursor: context.through, context, c.format, &frame))
                c.cursor = context.through
                context.touch(c)
            }
        }
    }
}
