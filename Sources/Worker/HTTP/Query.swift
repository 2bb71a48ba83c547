import LivefeedProtocol

/// The query parameters several answers share, read the same way everywhere.
enum Query {
    struct Invalid: Error {
        var message: String
        init(_ m: String) { message = m }
    }

    /// `after_id`: absent means nil; present must be a non-negative integer.
    static func afterID(_ head: HTTPRequestHead) -> Result<Int64?, Invalid> {
        guard let raw = head.queryValue("after_id") else { return .success(nil) }
        guard let v = Int64(raw), v >= 0, raw.first != "+" else {
            return .failure(Invalid("after_id must be a non-negative integer"))
        }
        return .success(v)
    }

    /// `limit` for paged answers: 1 to 500, `default` when absent.
    static func limit(_ head: HTTPRequestHead, default fallback: Int = 100) -> Result<Int, Invalid> {
        guard let raw = head.queryValue("limit") else { return .success(fallback) }
        guard let v = Int(raw), (1...500).contains(v) else {
            return .failure(Invalid("limit must be an integer from 1 to 500"))
        }
        return .success(v)
    }

    /// `after` (a channel or user name: the list goes on after it) and `limit` (1 to 1,000, default 1,000) of a
    /// channel or user list.
    static func listPage(_ head: HTTPRequestHead) -> Result<(after: String?, limit: Int), Invalid> {
        let after = head.queryValue("after")
        if let after, after.utf8.count > 1024 { return .failure(Invalid("after must be a name of at most 1024 bytes")) }
        guard let raw = head.queryValue("limit") else { return .success((after, MessageStore.listLimit)) }
        guard let v = Int(raw), (1...MessageStore.listLimit).contains(v) else {
            return .failure(Invalid("limit must be an integer from 1 to \(MessageStore.listLimit)"))
        }
        return .success((after, v))
    }

    /// `after_id` (default 0) and `limit` of a messages page, shared by the JSON API and its polling fragment.
    static func messagesPage(_ head: HTTPRequestHead) -> Result<(after: Int64, limit: Int), Invalid> {
        afterID(head).flatMap { after in limit(head).map { (after ?? 0, $0) } }
    }

    /// `before_id`: a positive integer, or nil when absent; `.failure` when present and malformed.
    static func beforeID(_ head: HTTPRequestHead) -> Result<Int64?, Invalid> {
        guard let raw = head.queryValue("before_id") else { return .success(nil) }
        guard let v = PathID.parse(raw) else { return .failure(Invalid("before_id must be a positive integer")) }
        return .success(v)
    }
}
