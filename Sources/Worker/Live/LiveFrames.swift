import LivefeedProtocol

/// The frames several feeds send: a channel's or a user's counts, one message.
enum LiveFrames {
    static func channelCount(
        _ ch: ChannelRow, cursor: Int64, _ context: FeedContext, _ format: LiveFormat, _ frame: inout SharedFrame
    ) -> SharedBytes {
        frame.bytes(format,
            json: {
                Envelope.count(.channelCount, id: ch.id, name: ch.name, messageCount: ch.messageCount,
                    lastMessageID: ch.lastMessageID, cursor: cursor, epoch: context.epoch, now: context.now)
            },
            html: { Fragments.count(.channel, id: ch.id, count: ch.messageCount, cursor: cursor) })
    }

    static func user(
        _ u: UserRow, type: EnvelopeType, cursor: Int64, _ context: FeedContext, _ format: LiveFormat,
        _ frame: inout SharedFrame
    ) -> SharedBytes {
        frame.bytes(format,
            json: {
                Envelope.count(type, id: u.id, name: u.name, messageCount: u.messageCount,
                    lastMessageID: u.lastMessageID, cursor: cursor, epoch: context.epoch, now: context.now)
            },
            html: { Fragments.count(.user, id: u.id, count: u.messageCount, cursor: cursor) })
    }

    static func message(_ m: ChatMessage, _ context: FeedContext, _ format: LiveFormat, _ frame: inout SharedFrame)
        -> SharedBytes
    {
        frame.bytes(format,
            json: { Envelope.message(m, epoch: context.epoch, now: context.now) },
            html: { Fragments.messages(CollectionOfOne(m), cursor: m.id) })
    }
}
