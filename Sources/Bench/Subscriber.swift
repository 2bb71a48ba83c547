import LivefeedProtocol

/// One WebSocket subscriber of the bench: its socket (owned from connect until `phase` is `.closed`), where it
/// stands in the handshake, and what it has received of the bench's message sequence.
final class Subscriber {
    enum Phase {
        case waiting
        case connecting
        case handshaking
        case live
        case closed
    }

    let index: Int
    let source: String
    var fd: FileDescriptor?
    var phase = Phase.waiting
    var request: [UInt8] = []
    var requestSent = 0
    var expectedAccept = ""
    /// Received bytes not yet used: a partial response head, or the start of a frame split across reads.
    var carry: [UInt8] = []
    /// Highest bench sequence number received (-1: none yet) and the message id that carried it.
    var lastSequence = -1
    var lastID: Int64 = 0
    var frames = 0
    /// Set when the server sent a close frame.
    var closeCode: Int?
    /// True once this subscriber got its 101 (failed connects never count towards delivery).
    var wasLive = false
    /// `--resume`: when to reconnect (monotonic ns), reconnections made, and failed attempts in a row.
    var reconnectAt: UInt64 = 0
    var reconnects = 0
    var failedAttempts = 0
    /// `--group-by-header`: the header's value in this subscriber's latest 101 ("-" without one).
    var group = ""

    init(index: Int, source: String) {
        self.index = index
        self.source = source
    }
}

/// What every subscriber saw, summed over all of them.
final class Receipts {
    var latency = LatencyHistogram()
    /// `--group-by-header`: the same, per group.
    var groupLatency: [String: LatencyHistogram] = [:]
    /// Bench message frames received, duplicates included.
    var frames = 0
    /// Messages skipped inside a subscriber's sequence, and how many times a skip happened.
    var gapMessages = 0
    var gapEvents = 0
    var duplicates = 0
    /// Frames whose message id did not exceed the previous one on that connection.
    var idOrderViolations = 0
    /// Frames whose (sequence → id) disagreed with what another subscriber saw for that sequence.
    var idMismatches = 0
    var foreignMessages = 0
    var otherFrames = 0
    var binaryOrFragmented = 0
    var protocolErrors = 0
    var statusReasons: [String: Int] = [:]
    var closeCodes: [Int: Int] = [:]
    /// Message id per bench sequence number, as first received (0: never received).
    var sequenceIDs: [Int64]
    /// Per bench sequence number: its send stamp, and the first and last time any subscriber received it.
    var sentAt: [UInt64]
    var firstSeen: [UInt64]
    var lastSeen: [UInt64]
    var firstReceipt: UInt64 = 0
    var lastReceipt: UInt64 = 0
    /// Commit-to-receipt, for a server that says when it committed each message (see `IngestClient`): per
    /// sequence number the commit time (0: not known yet), and the latencies from it. A frame can arrive before
    /// the bench has read its POST's answer; its receipt time waits in `early` until the answer comes. nil while
    /// no answer has been read, false once one came without a commit time (the server does not say).
    var commitLatency = LatencyHistogram()
    var committedAt: [UInt64]
    var commitStamps: Bool?
    private var early: [Int: [UInt64]] = [:]
    private var earlyCount = 0
    /// Receipts whose commit time never came (a replayed POST), or past the bound of `early`.
    private(set) var uncommitted = 0
    static let maxEarly = 1 << 22
    /// Set when ingest is over; subscribers reaching it are counted in `complete`.
    var finalSequence = Int.max
    var complete = 0

    init(totalMessages: Int) {
        sequenceIDs = [Int64](repeating: 0, count: totalMessages)
        sentAt = [UInt64](repeating: 0, count: totalMessages)
        firstSeen = [UInt64](repeating: 0, count: totalMessages)
        lastSeen = [UInt64](repeating: 0, count: totalMessages)
        committedAt = [UInt64](repeating: 0, count: totalMessages)
    }

    /// The answer to the POST of messages `first ..< first + count` arrived, with the commit time if it had one.
    func committed(first: Int, count: Int, at clock: UInt64?) {
        guard let clock else {
            if commitStamps == nil {
                commitStamps = false
                uncommitted += earlyCount
                early = [:]
                earlyCount = 0
            }
            return
        }
        commitStamps = true
        for sequence in max(0, first)..<min(committedAt.count, first + max(0, count)) {
            committedAt[sequence] = clock
            if let waiting = early.removeValue(forKey: sequence) {
                earlyCount -= waiting.count
                for t in waiting { commitLatency.record(t > clock ? t - clock : 0) }
            }
        }
    }

    /// Receipts still waiting for a commit time when the run ends (their POSTs were replays, or never answered).
    var commitUnmatched: Int { uncommitted + earlyCount }

    /// Per message: latency to its first receipt, and the spread from its first to its last receipt (how long
    /// the fan-out to every subscriber took, as the client saw it).
    func perMessage() -> (first: LatencyHistogram, spread: LatencyHistogram) {
        var first = LatencyHistogram()
        var spread = LatencyHistogram()
        for i in 0..<sequenceIDs.count where firstSeen[i] != 0 {
            first.record(firstSeen[i] > sentAt[i] ? firstSeen[i] - sentAt[i] : 0)
            spread.record(lastSeen[i] - firstSeen[i])
        }
        return (first, spread)
    }

    /// One line per message received by anyone, in sequence order: sequence, id, posted (ms after the first
    /// message was posted), first and last receipt (ms after its post), and its commit (ms after its post; - when
    /// the server did not say).
    func messageLog() -> String {
        let received = (0..<sequenceIDs.count).filter { firstSeen[$0] != 0 }
        let origin = received.map { sentAt[$0] }.min() ?? 0
        func ms(_ ns: UInt64) -> String { String(format: "%.3f", Double(ns) / 1e6) }
        var out = "# sequence id posted_ms first_receipt_ms last_receipt_ms committed_ms\n"
        for i in received {
            let posted = sentAt[i] - min(sentAt[i], origin)
            let first = firstSeen[i] - min(firstSeen[i], sentAt[i])
            let last = lastSeen[i] - min(lastSeen[i], sentAt[i])
            let commit = committedAt[i] == 0 ? "-" : ms(committedAt[i] - min(committedAt[i], sentAt[i]))
            out += "\(i) \(sequenceIDs[i]) \(ms(posted)) \(ms(first)) \(ms(last)) \(commit)\n"
        }
        return out
    }

    /// For the messages posted between `from` and `to` (monotonic ns): how long each took to reach every
    /// subscriber that got it (post to last receipt).
    func completion(sentFrom from: UInt64, to: UInt64) -> LatencyHistogram {
        var h = LatencyHistogram()
        for i in 0..<sequenceIDs.count where firstSeen[i] != 0 && sentAt[i] >= from && sentAt[i] < to {
            h.record(lastSeen[i] > sentAt[i] ? lastSeen[i] - sentAt[i] : 0)
        }
        return h
    }

    /// Accounts one bench message frame received by `s` at `now`.
    func record(_ s: Subscriber, id: Int64, sequence: Int, sentNanoseconds: UInt64, now: UInt64) {
        frames += 1
        s.frames += 1
        if firstReceipt == 0 { firstReceipt = now }
        lastReceipt = now
        let took = now > sentNanoseconds ? now - sentNanoseconds : 0
        latency.record(took)
        if !s.group.isEmpty { groupLatency[s.group, default: LatencyHistogram()].record(took) }
        if id <= s.lastID { idOrderViolations += 1 }
        if sequence >= 0 && sequence < sequenceIDs.count {
            if sequenceIDs[sequence] == 0 {
                sequenceIDs[sequence] = id
                sentAt[sequence] = sentNanoseconds
                firstSeen[sequence] = now
            } else if sequenceIDs[sequence] != id {
                idMismatches += 1
            }
            lastSeen[sequence] = now
            let commit = committedAt[sequence]
            if commit != 0 {
                commitLatency.record(now > commit ? now - commit : 0)
            } else if commitStamps != false {
                if earlyCount < Self.maxEarly {
                    early[sequence, default: []].append(now)
                    earlyCount += 1
                } else {
                    uncommitted += 1
                }
            }
        }
        if sequence <= s.lastSequence {
            duplicates += 1
        } else {
            if sequence > s.lastSequence + 1 {
                gapEvents += 1
                gapMessages += sequence - s.lastSequence - 1
            }
            s.lastSequence = sequence
            s.lastID = id
            if sequence == finalSequence { complete += 1 }
        }
    }
}
