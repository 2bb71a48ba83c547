import LivefeedProtocol
import Testing

@testable import Supervisor

@Suite struct ConnectionCapsTests {
    static func caps(global: Int = 100, live: Int = 10, perView: [ConnectionView: Int] = [:], perClient: Int = 50)
        -> ConnectionCaps
    {
        ConnectionCaps(limits: .init(global: global, live: live, perView: perView, perClient: perClient))
    }

    @Test func globalCapRefusesTheCapPlusOnethAndAdmitsAgainOnceASlotFrees() {
        var caps = Self.caps(global: 3)
        for _ in 0..<3 {
            let r1 = caps.arrive(client: "a")
            #expect(r1 == nil)
            let r2 = caps.admit(view: .http)
            #expect(r2 == nil)
        }
        let r3 = caps.arrive(client: "a")
        #expect(r3 == nil)
        let r4 = caps.admit(view: .http)
        #expect(r4 == .global)
        let r5 = caps.leave(client: "a")
        #expect(r5)
        let r6 = caps.release(view: .http, client: "a")
        #expect(r6)
        let r7 = caps.arrive(client: "a")
        #expect(r7 == nil)
        let r8 = caps.admit(view: .http)
        #expect(r8 == nil)
    }

    @Test func viewCapsAreIndependentAndPlainHTTPHasNone() {
        var caps = Self.caps(live: 5, perView: [.channel: 2])
        for _ in 0..<2 {
            let r9 = caps.admit(view: .channel)
            #expect(r9 == nil)
        }
        let r10 = caps.admit(view: .channel)
        #expect(r10 == .view)
        for _ in 0..<5 {
            let r11 = caps.admit(view: .echo)
            #expect(r11 == nil)
        }
        let r12 = caps.admit(view: .echo)
        #expect(r12 == .view)
        for _ in 0..<20 {
            let r13 = caps.admit(view: .http)
            #expect(r13 == nil)
        }
        #expect(caps.byView[.channel] == 2 && caps.byView[.echo] == 5 && caps.total == 27)
    }

    @Test func perClientCapCountsEveryArrivalAndIsPerAddress() {
        var caps = Self.caps(perClient: 2)
        let r14 = caps.arrive(client: "10.0.0.1")
        #expect(r14 == nil)
        let r15 = caps.arrive(client: "10.0.0.1")
        #expect(r15 == nil)
        let r16 = caps.arrive(client: "10.0.0.1")
        #expect(r16 == .client)
        let r17 = caps.arrive(client: "10.0.0.2")
        #expect(r17 == nil)
        #expect(caps.busiestClient == 2)
        let r18 = caps.leave(client: "10.0.0.1")
        #expect(r18)
        let r19 = caps.arrive(client: "10.0.0.1")
        #expect(r19 == nil)
    }

    @Test func peersWithoutAnAddressAreCountedButNotCappedTogether() {
        var caps = Self.caps(perClient: 2)
        for _ in 0..<5 {
            let refusal = caps.arrive(client: ClientKey.unknown)
            #expect(refusal == nil)
        }
        #expect(caps.byClient[ClientKey.unknown] == 5)
        for _ in 0..<5 {
            let left = caps.leave(client: ClientKey.unknown)
            #expect(left)
        }
        #expect(caps.byClient.isEmpty)
    }

    @Test func releasingTwiceIsReportedAndNeverGoesNegative() {
        var caps = Self.caps()
        let r20 = caps.arrive(client: "a")
        #expect(r20 == nil)
        let r21 = caps.admit(view: .channel)
        #expect(r21 == nil)
        let r22 = caps.release(view: .channel, client: "a")
        #expect(r22)
        let again = caps.release(view: .channel, client: "a")
        let leaveAgain = caps.leave(client: "a")
        #expect(!again && !leaveAgain)
        #expect(caps.total == 0 && caps.byView[.channel] == 0 && caps.byClient.isEmpty)
    }

    @Test func anyInterleavingEndsAtZero() {
        var rng = SystemRandomNumberGenerator()
        var caps = Self.caps(global: 20, live: 5, perClient: 7)
        var waiting: [String] = []
        var held: [(ConnectionView, String)] = []
        for _ in 0..<5000 {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:
                let client = "c\(Int.random(in: 0..<4, using: &rng))"
                if caps.arrive(client: client) == nil { waiting.append(client) }
            case 1 where !waiting.isEmpty:
                let client = waiting.remove(at: Int.random(in: 0..<waiting.count, using: &rng))
                let view = ConnectionView.allCases.randomElement(using: &rng)!
                if caps.admit(view: view) == nil {
                    held.append((view, client))
                } else {
                    let r23 = caps.leave(client: client)
                    #expect(r23)
                }
            case 2 where !held.isEmpty:
                let (view, client) = held.remove(at: Int.random(in: 0..<held.count, using: &rng))
                let r24 = caps.release(view: view, client: client)
                #expect(r24)
            case 3 where !waiting.isEmpty:
                let r25 = caps.leave(client: waiting.removeLast())
                #expect(r25)
            default:
                break
            }
            #expect(caps.total <= 20 && caps.busiestClient <= 7)
        }
        for client in waiting {
            let r26 = caps.leave(client: client)
            #expect(r26)
        }
        for (view, client) in held {
            let r27 = caps.release(view: view, client: client)
            #expect(r27)
        }
        #expect(caps.total == 0 && caps.byView.values.allSatisfy { $0 == 0 } && caps.byClient.isEmpty)
    }
}

@Suite struct ClientKeyTests {
    @Test func ipv4IsItsOwnKeyAlsoWhenMapped() {
        #expect(ClientKey.of(host: "127.0.0.1") == "127.0.0.1")
        #expect(ClientKey.of(host: "::ffff:192.0.2.7") == "192.0.2.7")
    }

    @Test func ipv6CountsByItsSlash64() {
        #expect(ClientKey.of(host: "2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64")
        #expect(ClientKey.of(host: "2001:db8:1:2::1") == ClientKey.of(host: "2001:db8:1:2:ffff::9"))
        #expect(ClientKey.of(host: "2001:db8:1:3::1") != ClientKey.of(host: "2001:db8:1:2::1"))
        #expect(ClientKey.of(nil) == "unknown")
    }
}

@Suite struct DeadlineQueueTests {
    @Test func expiresInOrderRoundedUpToTheGranularity() {
        var q = DeadlineQueue(granularity: 50)
        q.append(1, deadline: 1001)
        q.append(2, deadline: 1040)
        q.append(3, deadline: 1200)
        #expect(q.nextDeadline == 1050)
        let early = q.popExpired(now: 1049)
        #expect(early.isEmpty)
        let r28 = q.popExpired(now: 1050)
        #expect(r28 == [1, 2])
        let r29 = q.popExpired(now: 5000)
        #expect(r29 == [3])
        #expect(q.isEmpty && q.nextDeadline == nil)
    }

    @Test func manyEntriesStayBoundedAfterExpiry() {
        var q = DeadlineQueue(granularity: 1)
        var expired = 0
        for i in 0..<20_000 {
            q.append(UInt64(i), deadline: UInt64(i))
            expired += q.popExpired(now: UInt64(i) - min(UInt64(i), 10)).count
        }
        expired += q.popExpired(now: .max).count
        #expect(expired == 20_000)
    }
}
