import Foundation
import LivefeedProtocol

/// The printed report: figures, the issue's targets beside them, and a one-line `SUMMARY`.
extension BenchRun {
    /// Prints everything and returns true when every check passed (no gaps, duplicates, losses or failures).
    func report() -> Bool {
        let o = options
        let writer = ingest
        let sent = writer?.sent ?? 0
        let everLive = subscribers.filter(\.wasLive)
        let stillLive = everLive.filter { $0.phase == .live }
        let missingLive = stillLive.reduce(0) { $0 + (sent - 1 - $1.lastSequence) }
        let missingLost = everLive.filter { $0.phase != .live }.reduce(0) { $0 + (sent - 1 - $1.lastSequence) }
        let expected = everLive.count * sent
        let r = receipts
        var postIDMismatches = 0
        var postIDOrder = 0
        if let ids = writer?.ids {
            for (i, id) in ids.enumerated() {
                if i < r.sequenceIDs.count && r.sequenceIDs[i] != 0 && r.sequenceIDs[i] != id { postIDMismatches += 1 }
                if i > 0 && id <= ids[i - 1] { postIDOrder += 1 }
            }
        }
        let deliverySeconds = r.lastReceipt > ingestStart ? Double(r.lastReceipt - ingestStart) / 1e9 : 0
        let framesPerSecond = deliverySeconds > 0 ? Double(r.frames) / deliverySeconds : 0
        let window = Double(windowEnd.at - windowStart.at) / 1e9

        print("livefeed-bench: K=\(o.subscribers) subscribers on one channel, R=\(o.rate) msg/s for T=\(fmt(o.seconds)) s,"
            + " W=\(o.workers) workers, \(o.sourceAddresses) source addresses, \(o.messagesPerPost) msg/POST"
            + (o.serverArguments.isEmpty ? "" : ", server args \(o.serverArguments.joined(separator: " "))"))
        print("subscribers")
        print("  live after connect        \(everLive.count) of \(o.subscribers) in \(fmt(connectSeconds)) s;"
            + " failed: \(describe(connectFailures))")
        print("  lost during the run       \(describe(lostSubscribers))")
        print("ingest")
        print("  messages posted           \(sent) of \(o.totalMessages) in \(writer?.posts ?? 0) POSTs (largest \(writer?.largestPost ?? 0)),"
            + " ids acknowledged \(writer?.ids.count ?? 0), over \(fmt(Double(ingestEnd - ingestStart) / 1e9)) s")
        if let w = writer, w.posts > 0 {
            print("  POST round trip           mean \(ms(w.roundTripTotal / UInt64(w.posts))), max \(ms(w.roundTripMax));"
                + " failures: \(describe(w.failures))")
        }
        print("delivery (post-to-receipt: the stamp is taken when the POST is written, so it bounds commit-to-receipt)")
        print("  frames delivered          \(r.frames) of \(expected) expected; \(Int(framesPerSecond)) frames/s over"
            + " \(fmt(deliverySeconds)) s (offered \(everLive.count * o.rate)/s)")
        print("  latency                   p50 \(ms(r.latency.quantileNanoseconds(0.5)))  p99 \(ms(r.latency.quantileNanoseconds(0.99)))"
            + "  p99.9 \(ms(r.latency.quantileNanoseconds(0.999)))  max \(ms(r.latency.maxNanoseconds))"
            + "  mean \(ms(r.latency.meanNanoseconds))")
        let (first, spread) = r.perMessage()
        print("  per message               first receipt p50 \(ms(first.quantileNanoseconds(0.5))) p99 \(ms(first.quantileNanoseconds(0.99)));"
            + " first-to-last receipt (fan-out spread) p50 \(ms(spread.quantileNanoseconds(0.5)))"
            + " p99 \(ms(spread.quantileNanoseconds(0.99))) max \(ms(spread.maxNanoseconds))")
        print("  latency distribution      \(distribution(r.latency))")
        print("  gaps                      \(r.gapMessages) messages in \(r.gapEvents) places")
        print("  duplicates                \(r.duplicates)")
        print("  missing at end            \(missingLive) on live subscribers"
            + (drainedCompletely ? "" : " (drain timed out after \(fmt(o.drainSeconds)) s)")
            + ", \(missingLost) on lost ones")
        print("  id checks                 order violations \(r.idOrderViolations), cross-subscriber mismatches"
            + " \(r.idMismatches), mismatches with POST ids \(postIDMismatches), POST ids not ascending \(postIDOrder)")
        print("  other frames              status \(describe(r.statusReasons)), close codes \(describe(r.closeCodes)),"
            + " foreign messages \(r.foreignMessages), other \(r.otherFrames + r.binaryOrFragmented),"
            + " protocol errors \(r.protocolErrors)")
        printServer(frames: r.frames, window: window)
        let cpu = serverCPU()
        let perFrame = r.frames > 0 ? cpu / Double(r.frames) * 1e6 : 0
        let perIdle = everLive.isEmpty ? 0 : Double((idle.totalRSSKiB - baseline.totalRSSKiB) * 1024) / Double(everLive.count)
        let p99 = r.latency.quantileNanoseconds(0.99)
        print("targets")
        print("  server CPU per frame      \(fmt(perFrame)) µs vs ~1 µs: \(ratio(perFrame, 1))")
        print("  memory per idle conn      \(Int(perIdle)) B (user-space RSS) vs 1024 B: \(ratio(perIdle, 1024))")
        print("  p99 post-to-receipt       \(ms(p99)) vs ~6 ms (target set for K=1000, R=100): \(ratio(Double(p99) / 1e6, 6))")

        var problems: [String] = []
        if failedSubscribers > 0 { problems.append("\(failedSubscribers) subscribers never live") }
        if !lostSubscribers.isEmpty { problems.append("\(lostSubscribers.values.reduce(0, +)) subscribers lost") }
        if r.gapMessages > 0 { problems.append("gaps") }
        if r.duplicates > 0 { problems.append("duplicates") }
        if missingLive + missingLost > 0 { problems.append("missing frames") }
        if r.idOrderViolations + r.idMismatches + postIDMismatches + postIDOrder > 0 { problems.append("id checks") }
        if sent < o.totalMessages || (writer?.ids.count ?? 0) != sent || writer?.failed != false { problems.append("ingest") }
        if (server?.log.workerStarts ?? 0) > o.workers { problems.append("worker restarts") }
        if (server?.log.levels["error"] ?? 0) > 0 { problems.append("server errors") }
        if case .signaled? = serverExit { problems.append("server killed at stop") }
        print("RESULT \(problems.isEmpty ? "PASS" : "FAIL: " + problems.joined(separator: ", "))")
        print("SUMMARY K=\(o.subscribers) R=\(o.rate) T=\(fmt(o.seconds)) W=\(o.workers) live=\(everLive.count)"
            + " frames/s=\(Int(framesPerSecond)) p50_ms=\(msValue(r.latency.quantileNanoseconds(0.5)))"
            + " p99_ms=\(msValue(p99)) max_ms=\(msValue(r.latency.maxNanoseconds)) gaps=\(r.gapMessages)"
            + " dups=\(r.duplicates) missing=\(missingLive + missingLost) cpu_s=\(fmt(cpu))"
            + " cpu_us_per_frame=\(fmt(perFrame)) idle_bytes_per_conn=\(Int(perIdle))"
            + " peak_rss_mib=\(fmt(Double(peakRSSKiB()) / 1024)) \(problems.isEmpty ? "PASS" : "FAIL")")
        return problems.isEmpty
    }

    private func printServer(frames: Int, window: Double) {
        print("server (CPU and write calls over the ingest+drain window of \(fmt(window)) s)")
        print("  process          pid    user s   sys s  total s   writes  peak RSS   RSS base -> idle K -> end")
        var totalWrites = 0
        for name in processNames {
            guard let a = windowStart.sample(name), let b = windowEnd.sample(name) else {
                print("  \(pad(name, 12))  (gone or unreadable)")
                continue
            }
            let writes = b.writeCalls - a.writeCalls
            totalWrites += writes
            print("  \(pad(name, 12)) \(lpad("\(b.pid)", 7)) \(lpad(fmt(b.userSeconds - a.userSeconds), 8))"
                + " \(lpad(fmt(b.systemSeconds - a.systemSeconds), 7)) \(lpad(fmt(b.cpuSeconds - a.cpuSeconds), 8))"
                + " \(lpad("\(writes)", 8)) \(lpad(mib(b.peakRSSKiB), 9))"
                + "   \(mib(baseline.sample(name)?.rssKiB ?? 0)) -> \(mib(idle.sample(name)?.rssKiB ?? 0)) -> \(mib(b.rssKiB))")
        }
        let cpu = serverCPU()
        print("  total                   \(lpad(fmt(cpu), 26)) \(lpad("\(totalWrites)", 8)) \(lpad(mib(peakRSSKiB()), 9))"
            + "   \(mib(baseline.totalRSSKiB)) -> \(mib(idle.totalRSSKiB)) -> \(mib(windowEnd.totalRSSKiB))")
        if frames > 0 {
            print("  per delivered frame       \(fmt(cpu / Double(frames) * 1e6)) µs CPU,"
                + " \(fmt(Double(totalWrites) / Double(frames))) write calls (syscw: write, writev, pwrite incl. SQLite; not send/sendmsg)")
        }
        let k = max(1, subscribers.filter(\.wasLive).count)
        if let a = baseline.tcpKiB, let b = idle.tcpKiB {
            print("  kernel TCP memory         \(b - a) KiB for \(k) idle connections, both ends (sockstat; not in RSS)")
        }
        let benchCPU = windowEnd.benchCPUSeconds - windowStart.benchCPUSeconds
        print("  bench client CPU          \(fmt(benchCPU)) s over the window (it shares the machine's cores with the server)")
        if let a = windowStart.host, let b = windowEnd.host {
            let busy = b.busy - a.busy
            let cores = (b.total - a.total) / max(window, 0.001)
            print("  host CPU                  \(fmt(busy)) s busy of \(fmt(b.total - a.total)) s (\(Int(cores.rounded())) CPUs);"
                + " other programs \(fmt(max(0, busy - serverCPU() - benchCPU))) s"
                + " (more than a little means the latency figures are disturbed)")
        }
        if let log = server?.log {
            print("  server log                errors \(log.levels["error"] ?? 0), warnings \(log.levels["warning"] ?? 0),"
                + " worker starts \(log.workerStarts); close reasons \(describe(log.reasons)); exit: \(serverExit.map { "\($0)" } ?? "?")")
            for line in log.notable.prefix(5) { print("    \(line.prefix(300))") }
        }
    }

    func serverCPU() -> Double {
        processNames.reduce(0.0) { total, name in
            guard let a = windowStart.sample(name), let b = windowEnd.sample(name) else { return total }
            return total + b.cpuSeconds - a.cpuSeconds
        }
    }

    func peakRSSKiB() -> Int { windowEnd.processes.reduce(0) { $0 + ($1.sample?.peakRSSKiB ?? 0) } }

    // MARK: formatting

    /// Share of receipts per latency band, e.g. "<1ms 12% | 1-2ms 40% | …", empty bands left out.
    private func distribution(_ h: LatencyHistogram) -> String {
        let edgesMs: [UInt64] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        let counts = h.counts(below: edgesMs.map { $0 * 1_000_000 })
        guard h.count > 0 else { return "none" }
        var parts: [String] = []
        for (i, n) in counts.enumerated() where n > 0 {
            let label = i == 0 ? "<\(edgesMs[0])ms" : i == edgesMs.count ? ">=\(edgesMs[i - 1])ms" : "\(edgesMs[i - 1])-\(edgesMs[i])ms"
            parts.append("\(label) \(String(format: "%.1f", Double(n) * 100 / Double(h.count)))%")
        }
        return parts.joined(separator: " | ")
    }

    private func fmt(_ v: Double) -> String { String(format: v < 10 ? "%.2f" : "%.1f", v) }
    private func ms(_ ns: UInt64) -> String { msValue(ns) + " ms" }
    private func msValue(_ ns: UInt64) -> String { String(format: "%.2f", Double(ns) / 1e6) }
    private func mib(_ kib: Int) -> String { String(format: "%.1f MiB", Double(kib) / 1024) }
    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    private func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
    private func ratio(_ value: Double, _ target: Double) -> String {
        value <= target ? "within target" : String(format: "%.1f× the target", value / target)
    }
    private func describe<K: Comparable>(_ counts: [K: Int]) -> String {
        counts.isEmpty ? "none" : counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    }
}
