import LivefeedProtocol
import Testing

@testable import Worker

/// `SubscriberGroups`: each group is a contiguous array a fan-out takes by reference; joins and leaves keep every
/// member exactly once, and a group taken before a change keeps what it had.
@Suite struct SubscriberGroupsTests {
    private func session(_ id: UInt64, channel: Int64 = 1) -> LiveSession {
        let c = Connection(
            id: id, fd: FileDescriptor(owning: -1), view: .channel, client: "127.0.0.1:1",
            exchange: HTTPExchange(maxHeadBytes: 8192), now: 0)
        return LiveSession(connection: c, route: .channel(channel), format: .json, webSocket: WebSocketConnectionState())
    }

    private func ids(_ g: SubscriberGroups, _ key: Int64) -> [UInt64] { (g[key] ?? []).map(\.id).sorted() }

    @Test func joinsAndLeavesKeepEveryMemberOnce() {
        var g = SubscriberGroups()
        let s = (1...6).map { session(UInt64($0)) }
        for x in s { g.add(x, to: 1) }
        g.add(s[2], to: 1)  // again: still once
        #expect(g.count == 6 && ids(g, 1) == [1, 2, 3, 4, 5, 6])
        // Leaves from the middle, the end and the front: the last member moves into each hole.
        g.remove(s[2], from: 1)
        g.remove(s[5], from: 1)
        g.remove(s[0], from: 1)
        g.remove(s[0], from: 1)  // not there any more: nothing changes
        #expect(g.count == 3 && ids(g, 1) == [2, 4, 5])
        // The moved members' positions were kept up to date: each can still leave.
        for x in [s[1], s[3], s[4]] { g.remove(x, from: 1) }
        #expect(g.count == 0 && g[1] == nil)
    }

    @Test func groupsAreSeparateAndAGroupTakenBeforeAChangeKeepsWhatItHad() {
        var g = SubscriberGroups()
        let a = (1...3).map { session(UInt64($0)) }
        let b = session(10, channel: 2)
        for x in a { g.add(x, to: 1) }
        g.add(b, to: 2)
        let taken = g[1]!
        g.remove(a[0], from: 1)
        g.add(session(4), to: 1)
        #expect(taken.map(\.id) == [1, 2, 3])
        #expect(ids(g, 1) == [2, 3, 4] && ids(g, 2) == [10] && g.count == 4)
    }
}
