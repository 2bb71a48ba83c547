import Glibc

/// When the next tick is due, once one has ended. A tick writes once to every subscriber with something new, so
/// its cost follows the subscribers, not the messages: while the worker cannot keep up, pausing after a tick lets
/// the next one carry several messages per write; otherwise a pause only makes messages wait.
///
/// So the pacer pauses (`pausePercent` of the tick, at most `maxPauseMilliseconds`) only when the worker is loaded:
/// rows arrived while the tick went out, and at the recent message rate at least `loadedAt` messages arrive during
/// a tick of this length. Before, any row that arrived during a tick brought the pause, also when messages were
/// sparse and the next would have found the worker idle. Loaded cells (1,000 subscribers at 1,000/s, 10,000 at
/// 100/s) pause as before.
struct TickPacer {
    /// The longest pause. 10,000 subscribers tick for 50-80 ms, and their pause of up to 50 ms cost more latency
    /// than the CPU it saved was worth (10k x 100 beside the limit, two rounds, the bench no longer holding the
    /// limit's publisher: p99 from commit 1.38/1.17x the limit's and CPU 0.72x with 50 ms; 1.24/1.07x and 0.82-0.85x
    /// with 20; 1.17/1.02x and 0.92-0.93x with 10. Saturation, 10k x 1,000: 0.34 → 0.47 µs per frame, 1.78 → 1.72
    /// M frames/s). At 1,000 subscribers ticks are short enough that the cap does not apply.
    static let maxPauseMilliseconds: UInt64 = 10
    /// A loaded tick's pause as a share of the tick: the pause trades latency for CPU (fewer, fuller writes), and
    /// once the ingest got cheaper (thirteenth session) a pause of the whole tick bought CPU the goal did not need.
    /// 1k x 1,000, eight rounds in two runs beside the limit (ratios to it, median): the whole tick p99 from commit
    /// 1.35x, CPU per frame 1.04x; 60 % of it 1.00x and 1.18x; 75 % (four rounds) 1.11x and 1.09x.
    static let pausePercent: UInt64 = 60
    /// The rate's memory in milliseconds: each carried message adds 1/window to it, and it decays by e per window.
    static let rateWindowMilliseconds = 100.0
    /// Messages expected to arrive during one tick, at the recent rate, from which the worker counts as loaded.
    /// Two, not one: with channel affinity a 1,000-subscriber channel's one worker ticks for ~10 ms, so at 100/s
    /// about one message arrives per tick and at 1.0 it paused half the time, doubling waits for little (same
    /// run, two rounds: p99 52-54 ms at 1.0, 31-32 at 2.0, limit 19-22; CPU 5.5-6.2 against 7.7 µs per frame,
    /// limit 6.6-8.1). 10,000 subscribers at 100/s and 1,000 at 1,000/s still pause.
    static let loadedAt = 2.0

    /// A jump in message ids (rows written by another program) counts as at most this many messages.
    static let maxCountedPerTick: Int64 = 100_000

    /// Messages per millisecond over about the last `rateWindowMilliseconds`.
    private(set) var rate = 0.0
    private var updatedAt: UInt64?
    /// From when a message stored by this worker may be fanned out: as soon as the last tick that sent something
    /// has ended; idle looks do not move it. So a post goes out in the loop turn that stored it, waiting neither
    /// for the next idle look (up to half an interval) nor for a poll interval after the previous fan-out. That gap
    /// made a message arriving just after a slow fan-out wait 2 ms more, its fan-out end later, the next wait again:
    /// a cascade that a short slowdown of the machine started, and 1k x 100's tail (six rounds side by side: p99
    /// 6.1-8.1 ms against 6.5-10.7, first receipt p99 1.7-2.2 against 1.6-6.0).
    ///
    /// Two exceptions keep the batching: a loaded worker's own writes wait for its pause, and where at least one
    /// more message is expected within a poll interval they wait for that (1k x 1,000, four rounds: p99 19.1-22.8
    /// ms with this rule, 19.3-23.8 with the gap everywhere, 21.1-22.8 with none). Ticks never overlap either (a
    /// fan-out finishes first), which batches what arrives meanwhile.
    private(set) var ownWriteDue: UInt64 = 0

    /// The tick that started at `started` and ended at `ended` (monotonic milliseconds; a fan-out may span loop
    /// turns) carried `carried` messages; `waiting` says whether rows arrived while it went out. Returns when the
    /// next tick is due: half of `poll` after an idle one, `poll` after one that carried messages, or later when the
    /// worker is loaded.
    mutating func next(started: UInt64, ended: UInt64, carried: Int64, waiting: Bool, poll: UInt64) -> UInt64 {
        let elapsed = updatedAt.map { Double(ended - min(ended, $0)) } ?? 0
        rate = rate * exp(-elapsed / Self.rateWindowMilliseconds)
            + Double(min(max(0, carried), Self.maxCountedPerTick)) / Self.rateWindowMilliseconds
        updatedAt = ended
        let took = ended - min(ended, started)
        // Nothing went out and nothing waits: only another process's commit can change that, and the look is one
        // `PRAGMA data_version`, so an idle worker looks twice per interval (ticks after a fan-out keep the whole
        // interval). A message posted through another worker reaches this one's subscribers half an interval sooner
        // on average: 1k x 100 with the publisher on the other worker, same run, first receipt p50 2.0-2.3 ms
        // against 2.3-3.6 (p99 alike), for ~0.5 % of a core while idle with subscribers.
        if carried <= 0 && !waiting { return ended + max(1, poll / 2) }
        guard waiting, rate * Double(took) >= Self.loadedAt else {
            // The gap is worth waiting for only where it would batch: at least one more message expected in it.
            ownWriteDue = rate * Double(poll) >= 1 ? ended + poll : ended
            return ended + poll
        }
        ownWriteDue = ended + min(Self.maxPauseMilliseconds, max(poll, took * Self.pausePercent / 100))
        return ownWriteDue
    }
}
