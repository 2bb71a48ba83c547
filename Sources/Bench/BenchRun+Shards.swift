import Glibc
import LivefeedProtocol

/// One process may hold only as many sockets as its descriptor limit allows (20,000 here, and raising the hard
/// limit needs CAP_SYS_RESOURCE). Beyond that the bench starts client shards: copies of itself, each holding up
/// to `--per-process` subscribers of the same channel, connected to the parent by a socket pair at descriptor 3.
/// A shard reports `live <live> <failed>` once its subscribers are connected, waits for `final <sequence>
/// <drain seconds>`, drains, and sends its `ShardReport`. Every shard runs the same code on its subscribers as
/// the parent does on its own; the parent alone runs the server, ingests, and prints.
final class ShardLink {
    let pid: pid_t
    let fd: FileDescriptor
    let subscribers: Int
    var pending: [UInt8] = []
    var lines: [Substring] = []
    var reportedLive: (live: Int, failed: Int)?
    var closed = false

    init(pid: pid_t, fd: FileDescriptor, subscribers: Int) {
        self.pid = pid
        self.fd = fd
        self.subscribers = subscribers
    }

    var reportComplete: Bool { lines.last == "end" }
}

/// Where a shard connects: the parent's server, channel, resume point, and the global index of its first
/// subscriber (which spreads source addresses exactly as one process would).
struct ShardTarget {
    var address: SocketAddress
    var channelID: Int64
    var afterID: Int64
    var firstIndex: Int

    init(address: SocketAddress, channelID: Int64, afterID: Int64, firstIndex: Int) {
        (self.address, self.channelID, self.afterID, self.firstIndex) = (address, channelID, afterID, firstIndex)
    }

    /// `host:port/channel/after/first`.
    init?(parsing text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 4, let a = SocketAddress(parsing: String(parts[0])), let c = Int64(parts[1]),
            let after = Int64(parts[2]), let first = Int(parts[3]), c > 0, after >= 0, first >= 0
        else { return nil }
        (address, channelID, afterID, firstIndex) = (a, c, after, first)
    }

    var description: String { "\(address)/\(channelID)/\(afterID)/\(firstIndex)" }
}

extension BenchRun {
    static let controlToken: UInt64 = 1 << 42
    static let shardTokenBase: UInt64 = 1 << 43

    // MARK: parent

    /// Starts one shard per `perProcess` subscribers beyond the parent's own.
    func startShards() throws(BenchError) {
        var first = subscribers.count
        while first < options.subscribers {
            let count = min(options.perProcess, options.subscribers - first)
            let target = ShardTarget(address: address, channelID: channelID, afterID: warmupID, firstIndex: first)
            var arguments = ["--shard-of", target.description, "--subscribers", String(count)]
            arguments += ["--source-addresses", String(options.sourceAddresses)]
            arguments += ["--connect-batch", String(options.connectBatch)]
            arguments += ["--connect-timeout", String(options.connectTimeoutSeconds)]
            arguments += ["--rate", String(options.rate), "--seconds", String(options.seconds)]
            if let url = options.subscribeURL { arguments += ["--subscribe-url", "ws://\(url.description)"] }
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                throw .setup("socketpair: \(String(cString: strerror(errno)))")
            }
            let ours = FileDescriptor(owning: pair[0])
            let theirs = FileDescriptor(owning: pair[1])
            defer { theirs.close() }
            do {
                let pid = try ChildProcess.spawn(
                    path: Self.executableDirectory() + "/livefeed-bench", arguments: arguments, control: theirs)
                shards.append(ShardLink(pid: pid, fd: ours, subscribers: count))
                try ours.setNonBlocking()
                try epoll.add(ours, events: [.readable], token: Self.shardTokenBase + UInt64(shards.count - 1))
            } catch {
                ours.close()
                throw .setup("client shard: \(error)")
            }
            first += count
        }
    }

    /// Pumps until every shard said `live` (or ended), or `deadline`.
    func awaitShardsLive(deadline: UInt64) throws(BenchError) {
        while shards.contains(where: { $0.reportedLive == nil && !$0.closed }) && clock.nowNanoseconds < deadline {
            try pump(timeoutMilliseconds: 20)
        }
        for shard in shards where shard.reportedLive == nil {
            failedSubscribers += shard.subscribers
            connectFailures["client shard ended or timed out before reporting", default: 0] += shard.subscribers
        }
        for shard in shards {
            if let r = shard.reportedLive { failedSubscribers += r.failed }
        }
    }

    /// Tells every shard the last sequence number and how long it may drain.
    func announceFinal(_ finalSequence: Int, drainUntil: UInt64) {
        let seconds = Double(drainUntil > clock.nowNanoseconds ? drainUntil - clock.nowNanoseconds : 0) / 1e9
        for shard in shards where !shard.closed {
            Self.writeAll(shard.fd, "final \(finalSequence) \(seconds)\n")
        }
    }

    /// After the parent's own drain: waits for every shard's report and merges it. Returns true when every
    /// shard's live subscribers had everything.
    func collectShards(deadline: UInt64) throws(BenchError) -> Bool {
        while shards.contains(where: { !$0.reportComplete && !$0.closed }) && clock.nowNanoseconds < deadline {
            try pump(timeoutMilliseconds: 20)
        }
        var drained = true
        for (i, shard) in shards.enumerated() {
            guard let t = ShardReport.merge(shard.lines, into: self) else {
                // Its subscribers were live and are now unaccounted for: lost, with everything missing.
                let live = shard.reportedLive?.live ?? 0
                drained = false
                lostSubscribers["client shard \(i) sent no report", default: 0] += live
                shardTotals.append(
                    ShardReport.Totals(everLive: live, missingLost: live * max(0, receipts.finalSequence + 1)))
                continue
            }
            shardTotals.append(t)
            if t.complete < t.live { drained = false }
        }
        return drained
    }

    /// Reads what a shard wrote and splits it into lines.
    func handleShard(_ index: Int) {
        guard index < shards.count else { return }
        let shard = shards[index]
        guard case .done(let n)? = try? shard.fd.read(into: scratch) else { return }
        if n == 0 {
            shard.closed = true
            epoll.remove(shard.fd)
            return
        }
        shard.pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
        guard let lastNewline = shard.pending.lastIndex(of: UInt8(ascii: "\n")) else { return }
        let text = String(decoding: shard.pending[...lastNewline], as: UTF8.self)
        shard.pending.removeFirst(lastNewline + 1)
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.count == 3 && words[0] == "live", let l = Int(words[1]), let f = Int(words[2]) {
                shard.reportedLive = (l, f)
            } else {
                shard.lines.append(line)
            }
        }
    }

    /// Kills and reaps every shard (they also end on their own when the parent's end of the socket closes).
    func stopShards() {
        for shard in shards {
            if !shard.closed { shard.fd.close() }
            shard.closed = true
            kill(shard.pid, SIGTERM)
            var status: Int32 = 0
            waitpid(shard.pid, &status, 0)
        }
    }

    // MARK: shard

    /// The whole life of a shard process: connect, report, wait for the final sequence, drain, report.
    func executeShard(_ target: ShardTarget) throws(BenchError) {
        address = target.address
        channelID = target.channelID
        warmupID = target.afterID
        let control = FileDescriptor(owning: 3)
        shardControl = control
        do {
            try control.setNonBlocking()
            try epoll.add(control, events: [.readable], token: Self.controlToken)
        } catch {
            throw .setup("shard control socket: \(error)")
        }
        try connectSubscribers(deadline: clock.nowNanoseconds + UInt64(options.connectTimeoutSeconds * 1e9))
        Self.writeAll(control, "live \(live) \(failedSubscribers)\n")
        while shardFinal == nil {
            try pump(timeoutMilliseconds: 100)
            if shardControl == nil { throw .interrupted }
        }
        let (final, drainSeconds) = shardFinal!
        receipts.finalSequence = final
        receipts.complete = subscribers.filter { $0.phase == .live && $0.lastSequence == final }.count
        let drainEnd = clock.nowNanoseconds + UInt64(drainSeconds * 1e9)
        while receipts.complete < live && clock.nowNanoseconds < drainEnd {
            try pump(timeoutMilliseconds: 10)
        }
        Self.writeAll(control, ShardReport.encode(self, finalSequence: final))
    }

    /// The parent's `final` line, or its end of the socket closing.
    func handleControl() {
        guard let control = shardControl, case .done(let n)? = try? control.read(into: scratch) else { return }
        if n == 0 {
            epoll.remove(control)
            shardControl = nil
            return
        }
        let words = String(decoding: UnsafeRawBufferPointer(rebasing: scratch[0..<n]), as: UTF8.self)
            .split(whereSeparator: { $0 == " " || $0 == "\n" })
        if words.count >= 3 && words[0] == "final", let s = Int(words[1]), let d = Double(words[2]) {
            shardFinal = (s, min(max(d, 0), 600))
        }
    }

    /// Writes all of `text` to a non-blocking socket, waiting in poll(2) while it is full (at most 60 s).
    static func writeAll(_ fd: FileDescriptor, _ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        var waits = 0
        while sent < bytes.count && waits < 600 {
            let r = bytes[sent...].withUnsafeBytes { try? fd.write($0) }
            switch r {
            case .done(let n)?: sent += n
            case .wouldBlock?:
                var p = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
                poll(&p, 1, 100)
                waits += 1
            case nil: return
            }
        }
    }
}
