import LivefeedProtocol

/// What a read handler answers; the connection writes it with the request's keep-alive and HEAD rules.
enum Answer {
    case html(String)
    /// An HTML fragment for polling, with its cursor (also sent as X-Livefeed-Cursor and X-Livefeed-Epoch).
    case fragment(String, cursor: Int64)
    case json([UInt8])
    case failure(Int, String, String)
}
