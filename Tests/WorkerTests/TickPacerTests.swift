import Testing

@testable import Worker

@Suite struct TickPacerTests {
    /// Drives the pacer as a worker would: a message every `gap` ms, each tick taking `took` ms and carrying
    /// `perTick` messages, rows arriving during every tick. Returns the pause after the last tick.
    private func steady(gap: UInt64, took: UInt64, perTick: Int64 = 1, ticks: Int = 100) -> (TickPacer, UInt64) {
        var p = TickPacer()
        var t: UInt64 = 10_000
        var pause: UInt64 = 0
        for _ in 0..<ticks {
            let next = p.next(started: t, ended: t + took, carried: perTick, waiting: true, poll: 2)
            pause = next - (t + took)
            t += max(gap, took + pause)
        }
        return (p, pause)
    }

    @Test func aLightlyLoadedWorkerWaitsOnlyThePollInterval() {
        // 100 messages/s, ticks of 4 ms: 0.4 messages arrive during a tick on average; a pause would only delay.
        let (p, pause) = steady(gap: 10, took: 4)
        #expect(pause == 2)
        #expect(abs(p.rate - 0.1) < 0.02)
    }

    @Test func aLoadedWorkerPausesForItsShareOfTheTick() {
        // 1,000 messages/s and ticks of 10 ms: ten arrive during each, and six more in the pause of 6 ms, so the
        // next tick carries them together.
        let (_, pause) = steady(gap: 1, took: 10, perTick: 16)
        #expect(pause == 10 * TickPacer.pausePercent / 100)
        // Long ticks (10,000 subscribers) pause at most maxPause.
        let (_, long) = steady(gap: 10, took: 200, perTick: 20)
        #expect(long == TickPacer.maxPauseMilliseconds)
    }

    @Test func aTickLongEnoughForOneMessageIsNotLoadedOneForTwoIs() {
        // 100 messages/s. A 1,000-subscriber channel on one worker (channel affinity) ticks for ~12 ms: about one
        // message arrives meanwhile, and a pause would double its wait for little. At 10,000 subscribers a tick
        // of 25 ms sees two or three: the pause lets the next tick carry them in one write per subscriber.
        // `steady` leaves the clock at 11,000 ms.
        var (p, _) = steady(gap: 10, took: 4)
        #expect(p.next(started: 11_000, ended: 11_012, carried: 1, waiting: true, poll: 2) == 11_014)
        (p, _) = steady(gap: 10, took: 4)
        #expect(p.next(started: 11_000, ended: 11_025, carried: 2, waiting: true, poll: 2) == 11_025 + 10)
    }

    @Test func nothingWaitingMeansNoPauseHoweverBusy() {
        var p = TickPacer()
        for i in 0..<100 { _ = p.next(started: UInt64(i * 10), ended: UInt64(i * 10 + 8), carried: 10, waiting: true, poll: 2) }
        #expect(p.next(started: 1000, ended: 1008, carried: 10, waiting: false, poll: 2) == 1010)
        #expect(p.next(started: 1010, ended: 1018, carried: 10, waiting: true, poll: 2) == 1018 + 4)
    }

    @Test func theRateForgetsABurstAfterAQuietSpell() {
        var p = TickPacer()
        for i in 0..<100 { _ = p.next(started: UInt64(i * 10), ended: UInt64(i * 10 + 8), carried: 10, waiting: true, poll: 2) }
        #expect(p.rate > 0.5)
        // A second later one message comes: the burst no longer counts, so no pause.
        #expect(p.next(started: 2000, ended: 2008, carried: 1, waiting: true, poll: 2) == 2010)
        #expect(p.rate < 0.02)
    }

    @Test func oddInputsNeitherTrapNorPause() {
        var p = TickPacer()
        // A clock that seems to go back, a negative count (the database was replaced), a huge one.
        #expect(p.next(started: 500, ended: 400, carried: -5, waiting: true, poll: 2) == 402)
        #expect(p.next(started: 100, ended: 50, carried: 3, waiting: true, poll: 2) == 52)
        // An id jump (another program's rows) counts as a burst, and is forgotten like one.
        #expect(p.next(started: 0, ended: 10, carried: .max, waiting: true, poll: 2) == 10 + 6)
        #expect(p.next(started: 2000, ended: 2010, carried: 1, waiting: true, poll: 2) == 2012)
    }

    @Test func anIdleWorkerLooksTwicePerPollInterval() {
        var p = TickPacer()
        // Nothing carried, nothing waiting: the next look is half an interval away (at least 1 ms).
        #expect(p.next(started: 100, ended: 100, carried: 0, waiting: false, poll: 2) == 101)
        #expect(p.next(started: 101, ended: 101, carried: 0, waiting: false, poll: 10) == 106)
        #expect(p.next(started: 106, ended: 106, carried: 0, waiting: false, poll: 1) == 107)
        // A tick that carried messages, or one during which rows arrived, keeps the whole interval.
        #expect(p.next(started: 107, ended: 108, carried: 1, waiting: false, poll: 2) == 110)
        #expect(p.next(started: 110, ended: 111, carried: 0, waiting: true, poll: 2) == 113)
    }

    @Test func anOwnWriteWaitsOnlyForALoadedWorkersPause() {
        var p = TickPacer()
        // A tick that carried a message: the next look is an interval after it ended, an own write may go at once.
        #expect(p.next(started: 100, ended: 105, carried: 1, waiting: false, poll: 2) == 107)
        #expect(p.ownWriteDue == 105)
        #expect(p.next(started: 105, ended: 106, carried: 1, waiting: true, poll: 2) == 108)
        #expect(p.ownWriteDue == 106)
        // Idle looks after it move the next look on, not the time from which an own write may go out.
        #expect(p.next(started: 108, ended: 108, carried: 0, waiting: false, poll: 2) == 109)
        #expect(p.next(started: 109, ended: 109, carried: 0, waiting: false, poll: 2) == 110)
        #expect(p.ownWriteDue == 106)
        // Loaded (a burst at 1,000/s, ticks of 5 ms with rows waiting): an own write waits for the pause too.
        for i in 0..<100 {
            _ = p.next(started: UInt64(200 + i * 10), ended: UInt64(205 + i * 10), carried: 10, waiting: true, poll: 2)
        }
        #expect(p.next(started: 1200, ended: 1205, carried: 10, waiting: true, poll: 2) == 1205 + 3)
        #expect(p.ownWriteDue == 1205 + 3)
        // Not loaded but busy (1,000/s, ticks of 1 ms): about two messages are expected in a poll interval, so an
        // own write waits for it and the next tick carries them together.
        var busy = TickPacer()
        for i in 0..<100 {
            _ = busy.next(started: UInt64(i * 2), ended: UInt64(i * 2 + 1), carried: 2, waiting: false, poll: 2)
        }
        #expect(busy.next(started: 200, ended: 201, carried: 2, waiting: true, poll: 2) == 203)
        #expect(busy.ownWriteDue == 203)
        // Rows another program wrote, found waiting by an idle look: looked at again an interval later.
        #expect(p.next(started: 5000, ended: 5000, carried: 0, waiting: true, poll: 2) == 5002)
        #expect(p.ownWriteDue == 5000)
    }
}
