import Testing

@testable import Worker

/// Every state of a connection has exactly one deadline, and one thing happens when it passes.
struct ConnectionStateTests {
    let t = ConnectionState.Timeouts(idle: 60_000, request: 15_000, send: 30_000, pingInterval: 30_000, pingTimeout: 10_000)

    @Test func eachStateOwnsItsDeadlineAndItsExpiry() {
        let cases: [(ConnectionState, UInt64, ConnectionState.Expiry)] = [
            (.idle(since: 1000), 61_000, .close(reason: "idle_timeout")),
            (.receiving(since: 1000), 16_000, .requestTimeout),
            (.sending(stalledSince: 1000), 31_000, .close(reason: "send_timeout")),
            (.live(heardAt: 1000, pingSentAt: nil), 31_000, .ping),
            (.live(heardAt: 1000, pingSentAt: 40_000), 50_000, .close(reason: "ping_timeout")),
            (.closing(reason: "slow_consumer", deadline: 7000), 7000, .close(reason: "slow_consumer")),
        ]
        for (state, deadline, expiry) in cases {
            #expect(state.deadline(t) == deadline, "\(state)")
            #expect(state.due(now: deadline - 1, t) == nil, "\(state)")
            #expect(state.due(now: deadline, t) == expiry, "\(state)")
            #expect(state.due(now: .max, t) == expiry, "\(state)")
        }
    }

    @Test func aLateClockOrAHugeTimeoutNeverWrapsADeadlineIntoThePast() {
        let huge = ConnectionState.Timeouts(idle: .max, request: .max, send: .max, pingInterval: .max, pingTimeout: .max)
        #expect(ConnectionState.idle(since: 5).deadline(huge) == .max)
        #expect(ConnectionState.receiving(since: .max - 1).due(now: .max - 1, huge) == nil)
    }

    @Test func aStalledPeerIsWhatHoldsAConnectionWhateverElseItDoes() {
        // Answers to a request that was read: the state is sending until the output moves.
        #expect(ConnectionState.sending(stalledSince: 100).due(now: 30_099, t) == nil)
        #expect(ConnectionState.sending(stalledSince: 100).due(now: 30_100, t) == .close(reason: "send_timeout"))
    }
}
