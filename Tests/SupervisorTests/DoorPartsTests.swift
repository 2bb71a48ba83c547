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

/// The door's bound on connections still sending their heads.
@Suite struct DoorBoundTests {
    @Test func theDefaultBoundIsWhatTheDescriptorLimitLeavesAfterTheReserve() {
        let held = Door.answerReserve + Door.ownDescriptors + 2 * 2
        #expect(Door.pendingLimit(configured: nil, descriptorLimit: 1024, workers: 2) == 1024 - held)
        #expect(Door.pendingLimit(configured: nil, descriptorLimit: 1_048_576, workers: 2) == 1_048_576 - held)
        #expect(Door.pendingLimit(configured: 100, descriptorLimit: 1024, workers: 2) == 100)
        // A configured bound the descriptors cannot hold is lowered; a tiny limit still lets a few in.
        #expect(Door.pendingLimit(configured: 5000, descriptorLimit: 1024, workers: 2) == 1024 - held)
        #expect(Door.pendingLimit(configured: nil, descriptorLimit: 50, workers: 2) == 16)
        #expect(Door.pendingLimit(configured: nil, descriptorLimit: 0, workers: 2) == 16)
    }

    @Test func atTheBoundTheOldestWaitingAreShedFirst() {
        var door = Door(maxPending: 3)
        for id in 1...3 as ClosedRange<UInt64> {
            let room = door.makeRoom(alsoHeld: 0)
            #expect(room == [])
            door.arrive(id, at: id)
        }
        let first = door.makeRoom(alsoHeld: 0)
        #expect(first == [1])
        door.arrive(4, at: 4)
        // 2 finished its head meanwhile: 3 is now the oldest still waiting.
        door.leave(2)
        door.arrive(5, at: 5)
        let second = door.makeRoom(alsoHeld: 0)
        #expect(second == [3])
        #expect(door.waiting == [4, 5])
    }

    @Test func connectionsWaitingForAWorkerCountButAreNeverShed() {
        var door = Door(maxPending: 4)
        for id in 1...3 as ClosedRange<UInt64> { door.arrive(id, at: id) }
        // Two descriptors held for queued handoffs: two of the three heads must go so a fourth can wait.
        let shed = door.makeRoom(alsoHeld: 2)
        #expect(shed == [1, 2])
        // Everything held is queued for workers: no room can be made.
        var full = Door(maxPending: 2)
        let none = full.makeRoom(alsoHeld: 2)
        #expect(none == nil)
    }

    @Test func leavingTwiceOrUnknownIdsChangesNothing() {
        var door = Door(maxPending: 10)
        door.arrive(1, at: 0)
        door.leave(1)
        door.leave(1)
        door.leave(99)
        #expect(door.count == 0)
        let room = door.makeRoom(alsoHeld: 0)
        #expect(room == [])
    }
}
