import LivefeedProtocol

/// Every live view's feed, and the one place a `LiveRoute` finds its feed.
final class LiveFeeds {
    let metrics = MetricsFeed()
    let dashboard = DashboardFeed()
    let channels = ChannelsFeed()
    let channel: ChannelFeed
    let users = UsersFeed()
    let user = UserFeed()
    let all: [any LiveFeed]

    init(config: WorkerConfig) {
        channel = ChannelFeed(config: config)
        all = [metrics, dashboard, channels, channel, users, user]
    }

    /// The feed serving `route`; nil for echo, which is no feed.
    func feed(for route: LiveRoute) -> (any LiveFeed)? {
        switch route {
        case .metrics: metrics
        case .dashboard: dashboard
        case .channels: channels
        case .channel: channel
        case .users: users
        case .user: user
        case .echo: nil
        }
    }

    var hasSubscribers: Bool { all.contains { $0.subscriberCount > 0 } }
}
