import LivefeedProtocol
import Testing

@testable import Supervisor

/// `WorkerTable.pick(channel:bound:)`: a channel's subscribers fill one worker up to the bound, then spread.
@Suite struct ChannelAffinityTests {
    /// A table whose current generation of `count` workers is running.
    static func table(_ count: Int) -> WorkerTable {
        var t = WorkerTable(count: count)
        for slot in t.current { slot.state = WorkerSlot.State.running }
        t.refreshReady()
        return t
    }

    /// Places `n` subscribers of `channel` as the supervisor does (pick, then hold), ids from `firstID`.
    static func place(_ n: Int, of channel: Int64, bound: Int, in t: inout WorkerTable, firstID: UInt64) -> [Int] {
        (0..<n).map { i in
            let slot = t.pick(channel: channel, bound: bound)!
            slot.hold(firstID + UInt64(i), channel: channel)
            return slot.index
        }
    }

    @Test func subscribersOfOneChannelGoToOneWorkerUntilTheBound() {
        var t = Self.table(3)
        let placed = Self.place(5, of: 7, bound: 5, in: &t, firstID: 1)
        #expect(Set(placed).count == 1)
        let home = t.current[placed[0]]
        #expect(home.channelSubscribers[7] == 5)
        // The sixth goes elsewhere; that worker then fills up to the bound too.
        let next = Self.place(5, of: 7, bound: 5, in: &t, firstID: 100)
        #expect(Set(next).count == 1 && next[0] != placed[0])
    }

    @Test func aWorkerIsNotFilledPastItsDescriptorRoom() {
        var t = Self.table(2)
        t.descriptorRoom = 3
        let placed = Self.place(5, of: 9, bound: 10, in: &t, firstID: 1)
        // Three fill the first worker's room; the rest spill to the other, which then fills in turn.
        #expect(placed[0] == placed[1] && placed[1] == placed[2])
        #expect(placed[3] != placed[0] && placed[4] == placed[3])
        // Other connections count too: a worker holding two of anything has room for one more subscriber.
        var u = Self.table(2)
        u.descriptorRoom = 3
        let home = u.pick(channel: 4, bound: 10)!
        home.hold(1, channel: 4)
        home.hold(2, channel: nil)
        home.hold(3, channel: nil)
        #expect(u.pick(channel: 4, bound: 10) !== home)
        // A publisher does not go to a worker at its room either, however many subscribers it holds, nor does a
        // connection placed by load (the two random draws may both be that worker).
        for _ in 0..<20 {
            #expect(u.pickForPublisher() !== home)
            #expect(u.pick() !== home)
        }
        #expect(WorkerTable.descriptorRoom(limit: 0) == .max)
        #expect(WorkerTable.descriptorRoom(limit: 65536) == 65536 - 64)
        #expect(WorkerTable.descriptorRoom(limit: 10) == 0)
        #expect(WorkerTable.descriptorRoom(limit: .max) == .max)
    }

    @Test func aBigChannelSpreadsEvenlyOnceEveryHolderIsFull() {
        var t = Self.table(2)
        _ = Self.place(10_000, of: 1, bound: 1000, in: &t, firstID: 1)
        let counts = t.current.map { $0.channelSubscribers[1] }
        #expect(counts.reduce(0, +) == 10_000)
        #expect(abs(counts[0] - counts[1]) <= 1)
    }

    @Test func manySmallChannelsAreSpreadByLoad() {
        var t = Self.table(2)
        for channel in Int64(1)...50 {
            // Each channel's subscribers together; where a new channel starts is `pick()`'s choice by load.
            let placed = Self.place(10, of: channel, bound: 1000, in: &t, firstID: UInt64(channel) * 100)
            #expect(Set(placed).count == 1)
        }
        let held = t.current.map { $0.channelSubscribers.counts.count }
        #expect(held.reduce(0, +) == 50)
        #expect(held.allSatisfy { $0 >= 10 })
    }

    @Test func closingMakesRoomOnTheHome() {
        var t = Self.table(2)
        let placed = Self.place(4, of: 3, bound: 2, in: &t, firstID: 1)
        #expect(placed[0] == placed[1] && placed[2] == placed[3] && placed[0] != placed[2])
        // One of the first worker's subscribers leaves: it is the one below the bound, so the next goes there.
        t.current[placed[0]].letGo(1, channel: 3)
        #expect(t.current[placed[0]].channelSubscribers[3] == 1)
        #expect(t.pick(channel: 3, bound: 2)?.index == placed[0])
        // A connection it never held changes nothing, and the last one out removes the channel.
        t.current[placed[0]].letGo(999, channel: 3)
        t.current[placed[0]].letGo(2, channel: 3)
        #expect(t.current[placed[0]].channelSubscribers.isEmpty)
        #expect(t.current[placed[0]].connections.isEmpty)
    }

    @Test func offOrNoChannelIsTheUsualPick() {
        var t = Self.table(2)
        // Bound 0: by load alone, so 100 subscribers of one channel end up on both workers.
        let placed = Self.place(100, of: 5, bound: 0, in: &t, firstID: 1)
        #expect(Set(placed).count == 2)
        #expect(t.pick(channel: nil, bound: 1000) != nil)
    }

    @Test func aWorkerThatIsNotReadyIsNotChosen() {
        var t = Self.table(2)
        let home = Self.place(3, of: 9, bound: 1000, in: &t, firstID: 1)[0]
        t.current[home].state = .stopping
        t.refreshReady()
        #expect(t.pick(channel: 9, bound: 1000)?.index == 1 - home)
    }

    @Test func aQueueCountsWhatWaitsInItByChannel() {
        var q = HandoffQueue<Int64?>(bound: 10) { $0 }
        #expect(q.append(1, 5) && q.append(2, 5) && q.append(3, nil) && q.append(4, 6))
        #expect(q.waiting(channel: 5) == 2 && q.waiting(channel: 6) == 1)
        #expect(q.waitingForChannels == 3)
        q.popFirst()
        #expect(q.waiting(channel: 5) == 1)
        #expect(q.remove(4) != nil)
        #expect(q.waiting(channel: 6) == 0)
        #expect(q.waitingForChannels == 1)
        _ = q.removeAll()
        #expect(q.waiting(channel: 5) == 0 && q.isEmpty && q.waitingForChannels == 0)
    }

    @Test func theFlagIsParsed() throws {
        #expect(try SupervisorConfig.parse(["--channel-affinity", "0"], environment: [:]).channelAffinity == 0)
        #expect(try SupervisorConfig.parse([], environment: [:]).channelAffinity == 10_000)
        #expect(throws: (any Error).self) { try SupervisorConfig.parse(["--channel-affinity", "-1"], environment: [:]) }
    }

    @Test func aPublisherGoesWhereTheChannelSubscribersAre() {
        var t = Self.table(3)
        // No subscribers anywhere: a publisher is placed by load like any connection (every worker gets some).
        var before: Set<Int> = []
        for i in 0..<60 {
            let slot = t.pickForPublisher()!
            slot.hold(UInt64(10_000 + i), channel: nil)
            before.insert(slot.index)
        }
        #expect(before.count == 3)
        // A channel's subscribers on one worker, a smaller channel's on another: publishers go to the first,
        // however many plain connections it holds.
        let big = Self.place(20, of: 1, bound: 1000, in: &t, firstID: 1)
        let home = big[0]
        var small: [Int] = []
        for i in 0..<5 {
            let slot = t.current.first { $0.index != home }!
            slot.hold(UInt64(500 + i), channel: 2)
            small.append(slot.index)
        }
        for i in 0..<10 {
            let slot = t.pickForPublisher()!
            #expect(slot.index == home)
            slot.hold(UInt64(20_000 + i), channel: nil)
        }
        // Once another worker holds more channel subscribers, publishers go there.
        let other = t.current.first { $0.index != home }!
        for i in 0..<30 { other.hold(UInt64(40_000 + i), channel: 3) }
        #expect(t.pickForPublisher()!.index == other.index)
        // Publishers pile onto it only up to a bound over the worker with the fewest other connections; past that
        // they are placed by load (the other worker takes most), so the difference stays near the bound.
        for i in 0..<(WorkerTable.maxPublisherSkew + 400) {
            t.pickForPublisher()!.hold(UInt64(50_000 + i), channel: nil)
        }
        func others(_ s: WorkerSlot) -> Int { s.connections.count - s.channelSubscribers.total }
        let skew = others(other) - t.current.filter { $0 !== other }.map(others).min()!
        #expect(skew >= WorkerTable.maxPublisherSkew - 1 && skew < WorkerTable.maxPublisherSkew + 40, "skew \(skew)")
        #expect(t.current.filter { $0 !== other }.allSatisfy { others($0) > 100 })
        // A stopped worker is not chosen, however many it held.
        other.state = .stopping
        t.refreshReady()
        #expect(t.pickForPublisher()!.index == home)
    }
}
