import Testing

@testable import Supervisor

/// The door's decisions, driven without sockets: the bound on connections still sending their heads, who is shed,
/// deadlines, the over-cap grace and accept pauses.
@Suite struct DoorDecisionTests {
    static func door(maxPending: Int = 100, headTimeout: UInt64 = 1000, maxOverCap: Int = 256) -> Door {
        Door(.init(maxPending: maxPending, headTimeoutMilliseconds: headTimeout, maxOverCapWaiting: maxOverCap))
    }

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

    @Test func idsAreNeverReusedAndNeverZero() {
        var door = Self.door()
        let ids = (0..<1000).map { _ in door.newID() }
        #expect(Set(ids).count == 1000 && !ids.contains(0))
    }

    @Test func atTheBoundTheOldestWaitingAreShedFirst() {
        var door = Self.door(maxPending: 3)
        for id in 1...3 as ClosedRange<UInt64> {
            let arrival = door.arrive(id, now: id, overClientCap: false, alsoHeld: 0)
            #expect(arrival == .wait(deadline: id + 1000, shed: []))
        }
        let fourth = door.arrive(4, now: 4, overClientCap: false, alsoHeld: 0)
        #expect(fourth == .wait(deadline: 1004, shed: [1]))
        // 2 finished its head meanwhile: 3 is now the oldest still waiting.
        door.leave(2)
        _ = door.arrive(5, now: 5, overClientCap: false, alsoHeld: 0)
        let sixth = door.arrive(6, now: 6, overClientCap: false, alsoHeld: 0)
        #expect(sixth == .wait(deadline: 1006, shed: [3]))
        #expect(door.waiting == [4, 5, 6])
    }

    @Test func connectionsWaitingForAWorkerCountButAreNeverShed() {
        var door = Self.door(maxPending: 4)
        for id in 1...3 as ClosedRange<UInt64> { _ = door.arrive(id, now: 0, overClientCap: false, alsoHeld: 0) }
        // Two descriptors held for queued handoffs: two of the three heads must go so a fourth can wait.
        let arrival = door.arrive(4, now: 0, overClientCap: false, alsoHeld: 2)
        #expect(arrival == .wait(deadline: 1000, shed: [1, 2]))
        // Everything held is queued for workers: no room can be made.
        var full = Self.door(maxPending: 2)
        let refused = full.arrive(1, now: 0, overClientCap: false, alsoHeld: 2)
        #expect(refused == .refuseFull)
        #expect(full.count == 0)
    }

    @Test func overTheAddressCapAConnectionGetsAShortGraceAndOnlySoManyWait() {
        var door = Self.door(headTimeout: 10_000, maxOverCap: 2)
        let a = door.arrive(1, now: 0, overClientCap: true, alsoHeld: 0)
        let b = door.arrive(2, now: 0, overClientCap: true, alsoHeld: 0)
        let c = door.arrive(3, now: 0, overClientCap: true, alsoHeld: 0)
        #expect(a == .wait(deadline: 1000, shed: []) && b == .wait(deadline: 1000, shed: []))
        #expect(c == .refuseOverCap(shed: []))
        #expect(door.overCapWaiting == 2)
        door.leave(1)
        door.leave(1)
        #expect(door.overCapWaiting == 1, "leaving twice counts once")
        let expired = door.expired(now: 1000)
        #expect(expired.overCap == [1, 2] && expired.heads == [])
    }

    @Test func deadlinesExpireInArrivalOrderAndTheNextOneWakesTheLoop() {
        var door = Self.door(headTimeout: 1000)
        _ = door.arrive(1, now: 0, overClientCap: false, alsoHeld: 0)
        _ = door.arrive(2, now: 500, overClientCap: false, alsoHeld: 0)
        #expect(door.nextDeadline == 1000)
        #expect(door.expired(now: 999).heads == [])
        #expect(door.expired(now: 1000).heads == [1])
        #expect(door.nextDeadline == 1500)
    }

    @Test func anAcceptPauseIsOneEpisodeUntilTheBacklogDrains() {
        var door = Self.door()
        #expect(!door.acceptPaused)
        let first = door.pauseAccepting(now: 1000)
        #expect(first && door.acceptPaused)
        #expect(door.nextDeadline == 1100)
        #expect(!door.pauseIsOver(now: 1099) && door.pauseIsOver(now: 1100))
        door.acceptResumed()
        let again = door.pauseAccepting(now: 1200)
        #expect(!again, "the same episode")
        door.acceptResumed()
        let episode = door.backlogDrained(now: 1500)
        #expect(episode?.milliseconds == 500 && episode?.pauses == 2)
        #expect(door.backlogDrained(now: 1600) == nil)
    }
}
