import LivefeedProtocol

extension WorkerServer {
    func page(_ segments: [String], _ head: HTTPRequestHead) throws -> Routed {
        switch segments.count {
        case 0:
            let recent = try store.recentMessages(limit: 20)
            return .html(Pages.dashboard(totals: try store.totals(), channels: try store.channels(), recent: recent))
        case 1 where segments[0] == "channels":
            return .html(Pages.channels(try store.channels()))
        case 1 where segments[0] == "users":
            return .html(Pages.users(try store.users()))
        case 2 where segments[0] == "channels":
            guard let id = parseID(segments[1]), let ch = try store.channel(id) else {
                return .failure(404, "not_found", "no such channel")
            }
            // The newest 50, oldest first; the cursor is the channel's newest id so live picks up after it.
            let start = try store.channelMessagesBefore(id, limit: 50)
            let messages = try store.channelMessages(id, after: start, limit: 50)
            return .html(Pages.channel(ch, messages: messages, cursor: messages.last?.id ?? start, epoch: store.epoch))
        case 2 where segments[0] == "users":
            guard let id = parseID(segments[1]), let u = try store.user(id) else {
                return .failure(404, "not_found", "no such user")
            }
            return .html(Pages.user(u, recent: try store.recentUserMessages(id, limit: 20)))
        default:
            return .failure(404, "not_found", "no page at \(head.path)")
        }
    }
}
