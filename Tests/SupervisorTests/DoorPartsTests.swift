import Testing

@testable import Supervisor

/// The door's pure parts: epoll tokens and the per-worker handoff queue.
@Suite struct DoorPartsTests {
    @Test func everyTokenRoundTripsAndKindsNeverCollide() {
        let tokens: [EpollToken] = [
            .signals, .demoWriter, .listener(0), .listener(7), .worker(1), .worker(EpollToken.maxPayload),
            .pending(1), .pending(EpollToken.maxPayload),
        ]
        for t in tokens { #expect(EpollToken(rawValue: t.rawValue) == t, "\(t)") }
        #expect(Set(tokens.map(\.rawValue)).count == tokens.count)
        // A pending connection and a worker with the same number are different tokens.
        #expect(EpollToken.pending(5).rawValue != EpollToken.worker(5).rawValue)
    }

    @Test func valuesNoEncoderMakesDecodeToNil() {
        #expect(EpollToken(rawValue: 0) == nil)
        #expect(EpollToken(rawValue: 42) == nil)
        #expect(EpollToken(rawValue: UInt64.max) == nil)
    }

    @Test func handoffQueueIsFirstInFirstOutAndBounded() {
        var q = HandoffQueue<String>(bound: 3)
        let added = [q.append(1, "a"), q.append(2, "b"), q.append(3, "c")]
        #expect(added == [true, true, true] && q.isFull)
        let overflow = q.append(4, "d")
        #expect(!overflow, "a full queue refuses")
        #expect(q.count == 3)
        let first = q.popFirst()?.item
        #expect(first == "a")
        let again = q.append(4, "d")
        #expect(again, "room again after a send")
        let rest = [q.popFirst()?.item, q.popFirst()?.item, q.popFirst()?.item]
        #expect(rest == ["b", "c", "d"])
        let none = q.popFirst()
        #expect(none == nil && q.isEmpty)
    }

    @Test func handoffQueueRemovesFromTheMiddleAndKeepsTheOrderOfTheRest() {
        var q = HandoffQueue<Int>(bound: 10)
        for i in 1...5 { _ = q.append(UInt64(i), i * 10) }
        let removed = [q.remove(3), q.remove(3), q.remove(1)]
        #expect(removed == [30, nil, 10], "the second remove of 3 finds it gone")
        #expect(q.count == 3)
        let first = q.first()?.id
        #expect(first == 2)
        let all = q.removeAll().map(\.item)
        #expect(all == [20, 40, 50])
        let none = q.first()
        #expect(q.isEmpty && none == nil)
    }

    @Test func handoffQueueStaysCorrectOverManyCycles() {
        var q = HandoffQueue<Int>(bound: 100)
        var next = 0
        var expected = 0
        for round in 0..<5000 {
            while !q.isFull && next < round * 2 {
                let added = q.append(UInt64(next), next)
                #expect(added)
                next += 1
            }
            if let (_, item) = q.popFirst() {
                #expect(item == expected)
                expected += 1
            }
        }
        #expect(q.count == next - expected)
    }
}
