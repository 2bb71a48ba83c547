import Foundation
import LivefeedProtocol

/// The printed report: figures, the issue's targets beside them, `RESULT` and a one-line `SUMMARY`.
extension BenchRun {
    /// The derived figures the report prints and judges.
    struct Outcome {
        var sent = 0
        var everLive = 0
        var missingLive = 0
        var missingLost = 0
        var postIDMismatches = 0
        var postIDOrder = 0
        var deliverySeconds = 0.0
        var framesPerSecond = 0.0
        var windowSeconds = 0.0
        var serverCPU = 0.0
        var cpuMicrosecondsPerFrame = 0.0
        var idleBytesPerConnection = 0.0
        var problems: [String] = []
    }

    func outcome() -> Outcome {
        var o = Outcome()
        let r = receipts
        o.sent = ingest?.sent ?? 0
        let everLive = subscribers.filter(\.wasLive)
        o.everLive = everLive.count
        for s in everLive {
            if s.phase == .live {
                o.missingLive += o.sent - 1 - s.lastSequence
            } else {
                o.missingLost += o.sent - 1 - s.lastSequence
            }
        }
        for t in shardTotals {
            o.everLive += t.everLive
            o.missingLive += t.missingLive
            o.missingLost += t.missingLost
        }
        let ids = ingest?.ids ?? []
        for (i, id) in ids.enumerated() {
            if i < r.sequenceIDs.count && r.sequenceIDs[i] != 0 && r.sequenceIDs[i] != id { o.postIDMismatches += 1 }
            if i > 0 && id <= ids[i - 1] { o.postIDOrder += 1 }
        }
        o.deliverySeconds = r.lastReceipt > ingestStart ? Double(r.lastReceipt - ingestStart) / 1e9 : 0
        o.framesPerSecond = o.deliverySeconds > 0 ? Double(r.frames) / o.deliverySeconds : 0
        o.windowSeconds = Double(windowEnd.at - windowStart.at) / 1e9
        o.serverCPU = serverCPU()
        o.cpuMicrosecondsPerFrame = r.frames > 0 ? o.serverCPU / Double(r.frames) * 1e6 : 0
        if o.everLive > 0 {
            o.idleBytesPerConnection = Double((idle.totalRSSKiB - baseline.totalRSSKiB) * 1024) / Double(o.everLive)
        }

        if failedSubscribers > 0 { o.problems.append("\(failedSubscribers) subscribers never live") }
        if !lostSubscribers.isEmpty { o.problems.append("\(lostSubscribers.values.reduce(0, +)) subscribers lost") }
        if r.gapMessages > 0 { o.problems.append("gaps") }
        if r.duplicates > 0 { o.problems.append("duplicates") }
        if o.missingLive + o.missingLost > 0 { o.problems.append("missing frames") }
        if r.idOrderViolations + r.idMismatches + o.postIDMismatches + o.postIDOrder > 0 {
            o.problems.append("id checks")
        }
        if o.sent < options.totalMessages || ids.count != o.sent || ingest?.failed != false {
            o.problems.append("ingest")
        }
        // A --reload-at reload starts a second generation; anything more is a restart.
        let generations = reloadSentAt == nil ? 1 : 2
        if (server?.log.workerStarts ?? 0) > options.workers * generations { o.problems.append("worker restarts") }
        if (server?.log.levels["error"] ?? 0) > 0 { o.problems.append("server errors") }
        if case .signaled? = serverExit { o.problems.append("server killed at stop") }
        if options.reloadCommand != nil && reloadCommandDone?.status != 0 { o.problems.append("reload command") }
        // A livefeed started with --commit-clock stamps every 201: receipts here without a commit to measure from
        // mean the stamps went missing.
        // Client shards measure from the POST only (they never see the 201s): with --publisher-alone nothing here does.
        if server != nil && options.commitClock && !options.publisherAlone && r.frames > 0
            && (r.commitStamps != true || r.commitLatency.count == 0)
        {
            o.problems.append("commit clock")
        }
        return o
    }

    /// Prints everything and returns true when every check passed (no gaps, duplicates, losses or failures).
    func report() -> Bool {
        let o = outcome()
        let opt = options
        let r = receipts
        let h = r.latency
        var setup = "K=\(opt.subscribers) subscribers on one channel, R=\(opt.rate) msg/s for T=\(fmt(opt.seconds)) s,"
        if let url = opt.subscribeURL {
            setup += " server pid \(opt.serverPID) at ws://\(url.description) (publish http://\(opt.publishURL!.description)),"
            setup += " \(opt.sourceAddresses) source addresses, 1 msg/POST"
        } else {
            setup += " W=\(opt.workers) workers, \(opt.sourceAddresses) source addresses, \(opt.messagesPerPost) msg/POST"
        }
        if !opt.serverArguments.isEmpty { setup += ", server args \(opt.serverArguments.joined(separator: " "))" }
        print("livefeed-bench: " + setup)

        print("subscribers")
        row(
            "live after connect",
            "\(o.everLive) of \(opt.subscribers) in \(fmt(connectSeconds)) s; failed: \(describe(connectFailures))")
        row("lost during the run", describe(lostSubscribers))
        // The handshake phase alone: connections per second and the server's CPU per connection (supervisor peek,
        // handoff and records, worker upgrade and subscribe), measured from the snapshots around it.
        row(
            "handshakes",
            "\(fmt(Double(o.everLive) / max(connectSeconds, 0.001)))/s, server CPU "
                + "\(fmt(handshakeMicroseconds(o))) µs per connection "
                + "(\(opt.connectBatch) in flight)" + handshakeSplit(o))

        print("ingest")
        if let w = ingest {
            row(
                "messages posted",
                "\(o.sent) of \(opt.totalMessages) in \(w.posts) POSTs (largest \(w.largestPost)),"
                    + " ids acknowledged \(w.ids.count), over \(fmt(Double(ingestEnd - ingestStart) / 1e9)) s"
                    + " (\(Int(postedPerSecond(o)))/s of \(opt.rate)/s offered)"
                    + (w.reconnects > 0 ? "; reconnected \(w.reconnects)× (the server closed)" : ""))
            if w.posts > 0 {
                row(
                    "POST round trip",
                    "p50 \(ms(w.roundTrips.quantileNanoseconds(0.5))), p99 \(ms(w.roundTrips.quantileNanoseconds(0.99))),"
                        + " mean \(ms(w.roundTrips.meanNanoseconds)), max \(ms(w.roundTrips.maxNanoseconds));"
                        + (w.maxInFlight > 1 ? " at most \(w.peakInFlight) of \(w.maxInFlight) in flight;" : "")
                        + " failures: \(describe(w.failures))")
            }
        }

        print("delivery (post-to-receipt: stamped when the POST is written, so it bounds commit-to-receipt from above)")
        row(
            "frames delivered",
            "\(r.frames) of \(o.everLive * o.sent) expected; \(Int(o.framesPerSecond)) frames/s"
                + " over \(fmt(o.deliverySeconds)) s (offered \(o.everLive * opt.rate)/s)")
        row(
            "latency",
            "p50 \(ms(h.quantileNanoseconds(0.5)))  p99 \(ms(h.quantileNanoseconds(0.99)))"
                + "  p99.9 \(ms(h.quantileNanoseconds(0.999)))  max \(ms(h.maxNanoseconds))"
                + "  mean \(ms(h.meanNanoseconds))"
        )
        let c = r.commitLatency
        if options.publisherAlone {
            row("latency from commit", "not measured: every subscriber is in a client shard (--publisher-alone)")
        } else if r.commitStamps == true {
            let unmatched = r.commitUnmatched > 0 ? "; \(r.commitUnmatched) without a commit time" : ""
            row(
                "latency from commit",
                "p50 \(ms(c.quantileNanoseconds(0.5)))  p99 \(ms(c.quantileNanoseconds(0.99)))"
                    + "  p99.9 \(ms(c.quantileNanoseconds(0.999)))  max \(ms(c.maxNanoseconds))"
                    + "  (the server's Livefeed-Commit-Clock; \(c.count) receipts\(unmatched))")
        } else {
            row("latency from commit", "not measured: the server's answers carry no Livefeed-Commit-Clock")
        }
        if let header = opt.groupHeader {
            for (group, g) in r.groupLatency.sorted(by: { $0.key < $1.key }) {
                let now = groupsAtIngestEnd[group] ?? 0
                row(
                    "  \(header) \(group)",
                    "p50 \(ms(g.quantileNanoseconds(0.5)))  p99 \(ms(g.quantileNanoseconds(0.99)))  max \(ms(g.maxNanoseconds))"
                        + " over \(g.count) frames; subscribers served \(groupsEverServed[group] ?? 0) times, \(now) when ingest ended")
            }
        }
        let (first, spread) = r.perMessage()
        if let path = opt.messageLogPath {
            if !FileManager.default.createFile(atPath: path, contents: Data(r.messageLog().utf8)) {
                row("message log", "could not write \(path)")
            }
        }
        row(
            "per message",
            "first receipt p50 \(ms(first.quantileNanoseconds(0.5)))"
                + " p99 \(ms(first.quantileNanoseconds(0.99))); first-to-last receipt (fan-out spread)"
                + " p50 \(ms(spread.quantileNanoseconds(0.5))) p99 \(ms(spread.quantileNanoseconds(0.99)))"
                + " max \(ms(spread.maxNanoseconds))")
        row("latency distribution", distribution(h))
        row("gaps", "\(r.gapMessages) messages in \(r.gapEvents) places")
        row("duplicates", "\(r.duplicates)")
        row(
            "missing at end",
            "\(o.missingLive) on live subscribers"
                + (drainedCompletely ? "" : " (drain timed out after \(fmt(opt.drainSeconds)) s)")
                + ", \(o.missingLost) on lost ones")
        row(
            "id checks",
            "order violations \(r.idOrderViolations), cross-subscriber mismatches \(r.idMismatches),"
                + " mismatches with POST ids \(o.postIDMismatches), POST ids not ascending \(o.postIDOrder)")
        row(
            "other frames",
            "status \(describe(r.statusReasons)), close codes \(describe(r.closeCodes)),"
                + " foreign messages \(r.foreignMessages), other \(r.otherFrames + r.binaryOrFragmented),"
                + " protocol errors \(r.protocolErrors)")

        if options.resume {
            let total = subscribers.reduce(0) { $0 + $1.reconnects }
            row(
                "reconnects (--resume)",
                "\(total) by \(subscribers.filter { $0.reconnects > 0 }.count) subscribers (most by one"
                    + " \(subscribers.map(\.reconnects).max() ?? 0)); connections ended: \(describe(reconnectReasons));"
                    + " still waiting at the end \(reconnecting)")
        }
        let reload = reloadFigures(r)
        if let f = reload, let status = f.commandStatus {
            row(
                "reload (--reload-at)",
                "`\(opt.reloadCommand ?? "")` at \(fmt(opt.reloadAtSeconds ?? 0)) s ran \(f.readyMilliseconds) ms"
                    + " (exit status \(status >> 8)). Post to last receipt of messages posted meanwhile"
                    + " (\(f.during.count)) p50 \(ms(f.during.quantileNanoseconds(0.5)))"
                    + " p99 \(ms(f.during.quantileNanoseconds(0.99))) max \(ms(f.during.maxNanoseconds)); before it"
                    + " p50 \(ms(f.before.quantileNanoseconds(0.5))) p99 \(ms(f.before.quantileNanoseconds(0.99)))")
        } else if let f = reload {
            row(
                "reload (--reload-at)",
                "\(opt.reloadSignal == SIGUSR2 ? "SIGUSR2 (upgrade)" : "SIGHUP") at \(fmt(opt.reloadAtSeconds ?? 0)) s:"
                    + " \(f.moved) connections moved, \(f.failed) could not;"
                    + " the new workers served \(f.readyMilliseconds) ms and the last moved \(f.movingMilliseconds) ms after"
                    + " the signal. Post to last receipt of messages"
                    + " posted meanwhile (\(f.during.count)) p50 \(ms(f.during.quantileNanoseconds(0.5)))"
                    + " p99 \(ms(f.during.quantileNanoseconds(0.99))) max \(ms(f.during.maxNanoseconds)); before it"
                    + " p50 \(ms(f.before.quantileNanoseconds(0.5))) p99 \(ms(f.before.quantileNanoseconds(0.99)))")
        }

        printServer(o)

        let p99 = h.quantileNanoseconds(0.99)
        print("targets")
        row(
            "server CPU per frame",
            "\(fmt(o.cpuMicrosecondsPerFrame)) µs vs ~1 µs: \(ratio(o.cpuMicrosecondsPerFrame, 1))")
        row(
            "memory per idle conn",
            "\(Int(o.idleBytesPerConnection)) B (user-space RSS) vs 1024 B:"
                + " \(ratio(o.idleBytesPerConnection, 1024))")
        row("p99 post-to-receipt", "\(ms(p99)) vs ~6 ms (set for K=1000, R=100): \(ratio(Double(p99) / 1e6, 6))")

        print("RESULT \(o.problems.isEmpty ? "PASS" : "FAIL: " + o.problems.joined(separator: ", "))")
        var summary =
            "SUMMARY K=\(opt.subscribers) R=\(opt.rate) T=\(fmt(opt.seconds)) W=\(opt.workers) live=\(o.everLive)"
        summary += " sent=\(o.sent) frames=\(r.frames) frames/s=\(Int(o.framesPerSecond)) p50_ms=\(msValue(h.quantileNanoseconds(0.5)))"
        summary += " p99_ms=\(msValue(p99)) max_ms=\(msValue(h.maxNanoseconds)) gaps=\(r.gapMessages)"
        if r.commitStamps == true {
            summary += " commit_p50_ms=\(msValue(c.quantileNanoseconds(0.5))) commit_p99_ms=\(msValue(c.quantileNanoseconds(0.99)))"
        }
        summary += " dups=\(r.duplicates) missing=\(o.missingLive + o.missingLost) cpu_s=\(fmt(o.serverCPU))"
        summary +=
            " cpu_us_per_frame=\(fmt(o.cpuMicrosecondsPerFrame)) idle_bytes_per_conn=\(Int(o.idleBytesPerConnection))"
        summary += " posted_per_s=\(Int(postedPerSecond(o)))"
        if let w = ingest, w.posts > 0 {
            summary += " post_rtt_p50_ms=\(msValue(w.roundTrips.quantileNanoseconds(0.5)))"
            summary += " post_rtt_p99_ms=\(msValue(w.roundTrips.quantileNanoseconds(0.99)))"
        }
        summary += " handshakes_per_s=\(Int(Double(o.everLive) / max(connectSeconds, 0.001)))"
        summary += " cpu_us_per_handshake=\(fmt(handshakeMicroseconds(o)))"
        if let f = reload {
            summary += " moved=\(f.moved) move_failed=\(f.failed) ready_ms=\(f.readyMilliseconds)"
            summary += " moving_ms=\(f.movingMilliseconds)"
            summary += " reload_p99_ms=\(msValue(f.during.quantileNanoseconds(0.99)))"
        }
        if opt.resume { summary += " reconnects=\(subscribers.reduce(0) { $0 + $1.reconnects })" }
        summary += " server=\(opt.foreign ? "pid\(opt.serverPID)" : opt.attach != nil ? "attached" : "livefeed")"
        summary += " peak_rss_mib=\(fmt(Double(peakRSSKiB()) / 1024)) other_cpu_s=\(fmt(otherCPU() ?? 0))"
        print(summary + (o.problems.isEmpty ? " PASS" : " FAIL"))
        return o.problems.isEmpty
    }

    private func printServer(_ o: Outcome) {
        print("server (CPU and write calls over the ingest+drain window of \(fmt(o.windowSeconds)) s)")
        print("  process          pid    user s   sys s  total s   writes  peak RSS   RSS base -> idle K -> end")
        var totalWrites = 0
        for name in processNames {
            guard let a = windowStart.sample(name), let b = windowEnd.sample(name) else {
                print("  \(pad(name, 12))  (gone or unreadable)")
                continue
            }
            let writes = b.writeCalls - a.writeCalls
            totalWrites += writes
            var line = "  \(pad(name, 12)) \(lpad("\(b.pid)", 7)) \(lpad(fmt(b.userSeconds - a.userSeconds), 8))"
            line += " \(lpad(fmt(b.systemSeconds - a.systemSeconds), 7)) \(lpad(fmt(b.cpuSeconds - a.cpuSeconds), 8))"
            line +=
                " \(lpad("\(writes)", 8)) \(lpad(mib(b.peakRSSKiB), 9))   \(mib(baseline.sample(name)?.rssKiB ?? 0))"
            line += " -> \(mib(idle.sample(name)?.rssKiB ?? 0)) -> \(mib(b.rssKiB))"
            print(line)
        }
        var total = "  total                   \(lpad(fmt(o.serverCPU), 26)) \(lpad("\(totalWrites)", 8))"
        total += " \(lpad(mib(peakRSSKiB()), 9))   \(mib(baseline.totalRSSKiB)) -> \(mib(idle.totalRSSKiB))"
        total += " -> \(mib(windowEnd.totalRSSKiB))"
        print(total)
        if receipts.frames > 0 {
            row(
                "per delivered frame",
                "\(fmt(o.cpuMicrosecondsPerFrame)) µs CPU,"
                    + " \(fmt(Double(totalWrites) / Double(receipts.frames))) write calls"
                    + " (syscw: write, writev, pwrite incl. SQLite's; not send/sendmsg, which livefeed's"
                    + " single-buffer fan-out writes and the limit server use)")
        }
        if let a = baseline.tcpKiB, let b = idle.tcpKiB {
            row(
                "kernel TCP memory", "\(b - a) KiB for \(o.everLive) idle connections, both ends (sockstat; not in RSS)"
            )
        }
        let benchCPU = windowEnd.benchCPUSeconds - windowStart.benchCPUSeconds
        row("bench client CPU", "\(fmt(benchCPU)) s over the window (it shares the machine's CPUs with the server)")
        if let other = otherCPU(), let a = windowStart.host, let b = windowEnd.host {
            let cpus = Int(((b.total - a.total) / max(o.windowSeconds, 0.001)).rounded())
            row(
                "host CPU",
                "\(fmt(b.busy - a.busy)) s busy of \(fmt(b.total - a.total)) s (\(cpus) CPUs);"
                    + " other programs \(fmt(other)) s (more than a little disturbs the latency figures)")
        }
        if let log = server?.log {
            row(
                "server log",
                "errors \(log.levels["error"] ?? 0), warnings \(log.levels["warning"] ?? 0),"
                    + " worker starts \(log.workerStarts); close reasons \(describe(log.reasons));"
                    + " exit: \(serverExit.map { "\($0)" } ?? "?")")
            for line in log.notable.prefix(5) { print("    \(line.prefix(300))") }
            if let publisher = log.busiestHTTP {
                let live = log.liveOpenedByWorker.sorted { $0.key < $1.key }.map { "worker \($0.key) \($0.value)" }
                row(
                    "placement",
                    "publisher on worker \(publisher.worker) (\(publisher.requests) requests); live connections opened:"
                        + " \(live.isEmpty ? "none" : live.joined(separator: ", "))")
            }
        }
    }

    func serverCPU() -> Double { serverCPU(from: windowStart, to: windowEnd) }

    /// Messages posted per second of the ingest phase: below the offered rate when the publisher, one request in
    /// flight, waited for the server's answers.
    func postedPerSecond(_ o: Outcome) -> Double {
        ingestEnd > ingestStart ? Double(o.sent) / (Double(ingestEnd - ingestStart) / 1e9) : 0
    }

    /// Server CPU per connection during the handshake phase (the /proc clock ticks are 10 ms: meaningful from a
    /// few thousand connections up).
    func handshakeMicroseconds(_ o: Outcome) -> Double {
        o.everLive > 0 ? serverCPU(from: baseline, to: connected) / Double(o.everLive) * 1e6 : 0
    }

    /// ", of which supervisor N µs" for livefeed: the door's share of a handshake.
    private func handshakeSplit(_ o: Outcome) -> String {
        guard !options.foreign, o.everLive > 0, let a = baseline.sample("supervisor"), let b = connected.sample("supervisor")
        else { return "" }
        return ", of which supervisor \(fmt((b.cpuSeconds - a.cpuSeconds) / Double(o.everLive) * 1e6)) µs"
    }

    /// CPU seconds every server process (supervisor and workers) used between two snapshots.
    func serverCPU(from a: Snapshot, to b: Snapshot) -> Double {
        processNames.reduce(0.0) { total, name in
            guard let x = a.sample(name), let y = b.sample(name) else { return total }
            return total + y.cpuSeconds - x.cpuSeconds
        }
    }

    /// CPU seconds the rest of the host used during the window: busy time minus the server's and the bench's.
    func otherCPU() -> Double? {
        guard let a = windowStart.host, let b = windowEnd.host else { return nil }
        let bench = windowEnd.benchCPUSeconds - windowStart.benchCPUSeconds
        return max(0, (b.busy - a.busy) - serverCPU() - bench)
    }

    func peakRSSKiB() -> Int { windowEnd.processes.reduce(0) { $0 + ($1.sample?.peakRSSKiB ?? 0) } }

    // MARK: formatting

    private func row(_ label: String, _ text: String) { print("  \(pad(label, 24))  \(text)") }

    /// Share of receipts per latency band, e.g. "<1ms 12.0% | 1-2ms 40.0% | …", empty bands left out.
    private func distribution(_ h: LatencyHistogram) -> String {
        let edges: [UInt64] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        let counts = h.counts(below: edges.map { $0 * 1_000_000 })
        guard h.count > 0 else { return "none" }
        var parts: [String] = []
        for (i, n) in counts.enumerated() where n > 0 {
            let label =
                i == 0 ? "<\(edges[0])ms" : i == edges.count ? ">=\(edges[i - 1])ms" : "\(edges[i - 1])-\(edges[i])ms"
            parts.append("\(label) \(String(format: "%.1f", Double(n) * 100 / Double(h.count)))%")
        }
        return parts.joined(separator: " | ")
    }

    private func fmt(_ v: Double) -> String { String(format: v < 10 ? "%.2f" : "%.1f", v) }
    private func ms(_ ns: UInt64) -> String { msValue(ns) + " ms" }
    private func msValue(_ ns: UInt64) -> String { String(format: "%.2f", Double(ns) / 1e6) }
    private func mib(_ kib: Int) -> String { String(format: "%.1f MiB", Double(kib) / 1024) }
    private func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }
    private func lpad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : String(repeating: " ", count: n - s.count) + s
    }
    private func ratio(_ value: Double, _ target: Double) -> String {
        value <= target ? "within target" : String(format: "%.1f× the target", value / target)
    }
    private func describe<K: Comparable>(_ counts: [K: Int]) -> String {
        counts.isEmpty
            ? "none" : counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    }
}
