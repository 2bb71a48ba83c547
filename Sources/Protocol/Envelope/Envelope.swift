/// Envelope `type`s as they appear on the wire.
package enum EnvelopeType: String, Sendable {
    case metrics
    case message
    case channelCount = "channel_count"
    case userCount = "user_count"
    case userProfile = "user_profile"
    case dashboard
    case status
    case error
}

/// One stored message, as the API and the live stream present it.
package struct ChatMessage: Equatable, Sendable {
    package var id: Int64
    package var channelID: Int64
    package var channelName: String
    package var userID: Int64
    package var userName: String
    package var text: String
    package var sentAt: String
    /// The stored text was longer than is served (`text` is its start): only rows other programs wrote can be.
    package var textTruncated: Bool

    package init(
        id: Int64, channelID: Int64, channelName: String, userID: Int64, userName: String, text: String,
        sentAt: String, textTruncated: Bool = false
    ) {
        self.id = id
        self.channelID = channelID
        self.channelName = channelName
        self.userID = userID
        self.userName = userName
        self.text = text
        self.sentAt = sentAt
        self.textTruncated = textTruncated
    }

    /// The message as a JSON object (the `data` of a `message` envelope and an item of the messages API).
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.field("id", id)
        w.field("channel_id", channelID)
        w.field("channel", channelName)
        w.field("user_id", userID)
        w.field("user", userName)
        w.field("text", text)
        if textTruncated { w.field("text_truncated", true) }
        w.field("sent_at", sentAt)
        w.endObject()
    }
}

/// Encodes client envelopes: `{"type":…,"cursor":…,"epoch":…,"sent_at":…,"data":{…}}`. `sent_at` is when
/// the server produced the envelope; a message's own time is `data.sent_at`.
package enum Envelope {
    package static func message(_ m: ChatMessage, epoch: String, now: String) -> [UInt8] {
        var w = JSONWriter(capacity: 192 + m.text.utf8.count)
        w.beginObject()
        w.field("type", EnvelopeType.message.rawValue)
        w.field("cursor", m.id)
        w.field("epoch", epoch)
        w.field("sent_at", now)
        w.key("data")
        m.writeJSON(into: &w)
        w.endObject()
        return w.bytes
    }

    /// A snapshot envelope (`metrics`, `channel_count`, `user_count`, `user_profile`): `data` is written by `body`.
    package static func snapshot(
        _ type: EnvelopeType, cursor: Int64, epoch: String, now: String, _ body: (inout JSONWriter) -> Void
    ) -> [UInt8] {
        var w = JSONWriter(capacity: 192)
        w.beginObject()
        w.field("type", type.rawValue)
        w.field("cursor", cursor)
        w.field("epoch", epoch)
        w.field("sent_at", now)
        w.key("data")
        w.beginObject()
        body(&w)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// The counts of one channel or user, as `channel_count`, `user_count` and `user_profile` carry them.
    package static func count(
        _ type: EnvelopeType, id: Int64, name: String, messageCount: Int64, lastMessageID: Int64, cursor: Int64,
        epoch: String, now: String
    ) -> [UInt8] {
        snapshot(type, cursor: cursor, epoch: epoch, now: now) { w in
            w.field("id", id)
            w.field("name", name)
            w.field("message_count", messageCount)
            w.field("last_message_id", lastMessageID)
        }
    }

    /// A `status`: like every frame it carries the cursor the connection has reached (a client resumes after it),
    /// the epoch and the time it was sent.
    package static func status(
        state: String, reason: String, retryAfterMilliseconds: Int? = nil, cursor: Int64, epoch: String, now: String
    ) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", EnvelopeType.status.rawValue)
        w.field("cursor", cursor)
        w.field("epoch", epoch)
        w.field("sent_at", now)
        w.key("data")
        w.beginObject()
        w.field("state", state)
        w.field("reason", reason)
        if let retry = retryAfterMilliseconds { w.field("retry_after_ms", retry) }
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// The body of an HTTP error answer: `{"error":{"code":…,"message":…}}`.
    package static func errorBody(code: String, message: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("error")
        w.beginObject()
        w.field("code", code)
        w.field("message", message)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    package static func error(code: String, message: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", EnvelopeType.error.rawValue)
        w.key("data")
        w.beginObject()
        w.field("code", code)
        w.field("message", message)
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
