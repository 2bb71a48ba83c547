import LivefeedProtocol

/// The HTML pages. Each carries the cursor it shows, so its live view resumes right after it.
struct PageHandler {
    static let channelPageSize = 50

    let store: MessageStore
    let assets: StaticAssets
    let dashboard: DashboardFeed

    func answer(_ page: Route.Page, _ head: HTTPRequestHead) throws -> Answer {
        switch page {
        case .dashboard:
            return .html(try store.read { Pages.dashboard(try dashboard.current(store).data, assets: assets) })
        case .channels:
            let list: (after: String?, limit: Int)
            switch Query.listPage(head) {
            case .success(let v): list = v
            case .failure(let e): return .failure(400, "bad_query", e.message)
            }
            return .html(
                try store.read {
                    let page = try store.channelPage(after: list.after, limit: list.limit)
                    return Pages.channels(
                        page.rows,
                        page: .init(after: list.after, hasMore: page.hasMore, total: try store.totals().channels),
                        cursor: try store.maxMessageID(), epoch: store.epoch, assets: assets)
                })
        case .users:
            let list: (after: String?, limit: Int)
            switch Query.listPage(head) {
            case .success(let v): list = v
            case .failure(let e): return .failure(400, "bad_query", e.message)
            }
            return .html(
                try store.read {
                    let page = try store.userPage(after: list.after, limit: list.limit)
                    return Pages.users(
                        page.rows,
                        page: .init(after: list.after, hasMore: page.hasMore, total: try store.totals().users),
                        cursor: try store.maxMessageID(), epoch: store.epoch, assets: assets)
                })
        case .channel(let id):
            let before: Int64?
            switch Query.beforeID(head) {
            case .success(let v): before = v
            case .failure(let e): return .failure(400, "bad_query", e.message)
            }
            return try store.read {
                guard let ch = try store.channel(id) else { return .failure(404, "not_found", "no such channel") }
                // The page shows every message of the channel up to the cursor (its newest 50 of them), so live
                // resumes right after it.
                let cursor = try store.maxMessageID()
                // before_id is positive, so before - 1 cannot overflow.
                let page = try store.channelMessages(
                    id, through: before.map { $0 - 1 } ?? cursor, limit: Self.channelPageSize)
                return .html(
                    Pages.channel(
                        ch, messages: page.messages, hasOlder: page.hasOlder, cursor: cursor,
                        epoch: store.epoch, before: before, assets: assets))
            }
        case .user(let id):
            return try store.read {
                guard let u = try store.user(id) else { return .failure(404, "not_found", "no such user") }
                return .html(
                    Pages.user(
                        u, recent: try store.recentUserMessages(id, limit: 20),
                        channels: try store.userChannels(id, limit: 6), cursor: try store.maxMessageID(),
                        epoch: store.epoch, assets: assets))
            }
        }
    }
}
