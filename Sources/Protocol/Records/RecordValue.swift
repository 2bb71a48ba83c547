/// One field value in a record: records carry integers and strings only.
package enum RecordValue: Equatable, Sendable {
    case int(Int64)
    case string(String)

    package var intValue: Int64? { if case .int(let v) = self { v } else { nil } }
    package var stringValue: String? { if case .string(let v) = self { v } else { nil } }
}

/// The view a connection serves: the classification the supervisor makes from the request head, and the
/// `view` label in metrics and logs. Wire spellings are the raw values.
package enum ConnectionView: String, CaseIterable, Sendable {
    case http
    case metrics
    case channels
    case channel
    case users
    case user
    case echo

    /// Live views are WebSocket streams that count against a per-view cap.
    package var isLive: Bool { self != .http }
}
