import LivefeedProtocol

/// How envelopes are written for a connection: JSON, or HTML fragments for the htmx `ws` extension.
enum LiveFormat: String {
    case json
    case html
}

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

/// Subscribers of a feed keyed by one id (a channel, a user).
struct SubscriberGroups {
    private(set) var groups: [Int64: [UInt64: LiveSession]] = [:]
    private(set) var count = 0

    mutating func add(_ c: LiveSession, to key: Int64) {
        if groups[key, default: [:]].updateValue(c, forKey: c.id) == nil { count += 1 }
    }

    mutating func remove(_ c: LiveSession, from key: Int64) {
        guard groups[key]?.removeValue(forKey: c.id) != nil else { return }
        count -= 1
        if groups[key]?.isEmpty == true { groups[key] = nil }
    }

    subscript(key: Int64) -> [UInt64: LiveSession]? { groups[key] }
}
