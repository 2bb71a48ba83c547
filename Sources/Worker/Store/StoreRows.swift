import CSQLite
import LivefeedProtocol

struct ChannelRow {
    var id: Int64
    var name: String
    var messageCount: Int64
    var lastMessageID: Int64
}

struct UserRow {
    var id: Int64
    var name: String
    var messageCount: Int64
    var lastMessageID: Int64
}

struct Totals {
    var messages: Int64
    var channels: Int64
    var users: Int64
    var lastMessageID: Int64
}

enum IngestError: Error, Equatable {
    case unknownChannel(Int64)
    case unknownUser(Int64)
    /// An idempotency key already used, within its window, for other messages.
    case keyReused(String)
}
