/// What a client shard (a child `livefeed-bench` holding part of the subscribers, see `BenchRun+Shards`) tells
/// its parent at the end, as text lines over their socket: totals, the latency bins in use, and per message its
/// id and first/last receipt (CLOCK_MONOTONIC is one clock for every process, so times from shards compare).
///
///     totals frames=… gap_messages=… …
///     fail <count> <why>   lost <count> <why>   close <code> <count>   status <count> <reason>
///     bin <index> <count>  latency <count> <overflow> <max ns> <sum ns>
///     seq <sequence> <id> <sent ns> <first ns> <last ns>
///     end
enum ShardReport {
    /// The lines for everything `run` saw, ending with `end`.
    static func encode(_ run: BenchRun, finalSequence: Int) -> String {
        let r = run.receipts
        var missingLive = 0
        var missingLost = 0
        var everLive = 0
        for s in run.subscribers where s.wasLive {
            everLive += 1
            if s.phase == .live { missingLive += finalSequence - s.lastSequence } else {
                missingLost += finalSequence - s.lastSequence
            }
        }
        var out = "totals frames=\(r.frames) gap_messages=\(r.gapMessages) gap_events=\(r.gapEvents)"
        out += " duplicates=\(r.duplicates) id_order=\(r.idOrderViolations) id_mismatches=\(r.idMismatches)"
        out += " foreign=\(r.foreignMessages) other=\(r.otherFrames) binary=\(r.binaryOrFragmented)"
        out += " protocol_errors=\(r.protocolErrors) complete=\(r.complete) live=\(run.live) ever_live=\(everLive)"
        out += " failed=\(run.failedSubscribers) missing_live=\(missingLive) missing_lost=\(missingLost)"
        out += " first_receipt=\(r.firstReceipt) last_receipt=\(r.lastReceipt)\n"
        for (why, n) in run.connectFailures { out += "fail \(n) \(oneLine(why))\n" }
        for (why, n) in run.lostSubscribers { out += "lost \(n) \(oneLine(why))\n" }
        for (code, n) in r.closeCodes { out += "close \(code) \(n)\n" }
        for (reason, n) in r.statusReasons { out += "status \(n) \(oneLine(reason))\n" }
        r.latency.forEachBin { out += "bin \($0) \($1)\n" }
        let h = r.latency
        out += "latency \(h.count) \(h.overflow) \(h.maxNanoseconds) \(UInt64(h.sumNanoseconds))\n"
        for i in 0..<r.sequenceIDs.count where r.sequenceIDs[i] != 0 {
            out += "seq \(i) \(r.sequenceIDs[i]) \(r.sentAt[i]) \(r.firstSeen[i]) \(r.lastSeen[i])\n"
        }
        return out + "end\n"
    }

    /// The totals a shard reported, beside what `merge` folds into the parent's receipts.
    struct Totals {
        var live = 0
        var everLive = 0
        var failed = 0
        var complete = 0
        var missingLive = 0
        var missingLost = 0
    }

    /// Folds one shard's lines into `run`'s receipts and failure counts; returns its totals, or nil when the
    /// lines are not a whole report.
    static func merge(_ lines: [Substring], into run: BenchRun) -> Totals? {
        guard lines.last == "end" else { return nil }
        let r = run.receipts
        var t = Totals()
        for line in lines {
            let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard let kind = words.first else { continue }
            switch kind {
            case "totals":
                var v: [Substring: Int] = [:]
                for pair in line.split(separator: " ").dropFirst() {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2, let n = Int(kv[1]) { v[kv[0]] = n }
                }
                r.frames += v["frames", default: 0]
                r.gapMessages += v["gap_messages", default: 0]
                r.gapEvents += v["gap_events", default: 0]
                r.duplicates += v["duplicates", default: 0]
                r.idOrderViolations += v["id_order", default: 0]
                r.idMismatches += v["id_mismatches", default: 0]
                r.foreignMessages += v["foreign", default: 0]
                r.otherFrames += v["other", default: 0]
                r.binaryOrFragmented += v["binary", default: 0]
                r.protocolErrors += v["protocol_errors", default: 0]
                let first = UInt64(v["first_receipt", default: 0])
                let last = UInt64(v["last_receipt", default: 0])
                if first != 0 && (r.firstReceipt == 0 || first < r.firstReceipt) { r.firstReceipt = first }
                r.lastReceipt = max(r.lastReceipt, last)
                t.live = v["live", default: 0]
                t.everLive = v["ever_live", default: 0]
                t.failed = v["failed", default: 0]
                t.complete = v["complete", default: 0]
                t.missingLive = v["missing_live", default: 0]
                t.missingLost = v["missing_lost", default: 0]
            case "fail", "lost", "status":
                guard words.count == 3, let n = Int(words[1]) else { continue }
                let why = String(words[2])
                if kind == "fail" { run.connectFailures[why, default: 0] += n }
                if kind == "lost" { run.lostSubscribers[why, default: 0] += n }
                if kind == "status" { r.statusReasons[why, default: 0] += n }
            case "close":
                guard words.count == 3, let code = Int(words[1]), let n = Int(words[2]) else { continue }
                r.closeCodes[code, default: 0] += n
            case "bin":
                guard words.count == 3, let bin = Int(words[1]), let n = UInt32(words[2]) else { continue }
                r.latency.add(bin: bin, count: n)
            case "latency":
                let f = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
                guard f.count == 4 else { continue }
                r.latency.absorb(count: Int(f[0]), overflow: Int(f[1]), maxNanoseconds: f[2], sumNanoseconds: f[3])
            case "seq":
                let f = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
                guard f.count == 5, f[0] < UInt64(r.sequenceIDs.count) else { continue }
                let i = Int(f[0])
                let id = Int64(f[1])
                if r.sequenceIDs[i] == 0 {
                    (r.sequenceIDs[i], r.sentAt[i], r.firstSeen[i], r.lastSeen[i]) = (id, f[2], f[3], f[4])
                } else {
                    if r.sequenceIDs[i] != id { r.idMismatches += 1 }
                    r.firstSeen[i] = min(r.firstSeen[i], f[3])
                    r.lastSeen[i] = max(r.lastSeen[i], f[4])
                }
            default:
                continue
            }
        }
        return t
    }

    private static func oneLine(_ s: String) -> String {
        String(s.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
