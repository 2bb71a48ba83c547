import Foundation
import Glibc
import LivefeedProtocol

/// One benchmark run: starts the server, connects the subscribers, ingests, drains, and keeps the figures for
/// the report. Owns the epoll set, the signalfd, every client socket and the server process; `finish` always
/// stops the server and closes everything, whatever happened before.
final class BenchRun {
    static let ingestToken: UInt64 = 1 << 40
    static let signalToken: UInt64 = 1 << 41

    /// /proc readings of every server process, plus the bench's own CPU, at one moment.
    struct Snapshot {
        var at: UInt64 = 0
        var processes: [(name: String, sample: ProcessSample?)] = []
        var tcpKiB: Int?
        var benchCPUSeconds = 0.0
        var host: (busy: Double, total: Double)?

        func sample(_ name: String) -> ProcessSample? { processes.first { $0.name == name }?.sample ?? nil }
        var totalRSSKiB: Int { processes.reduce(0) { $0 + ($1.sample?.rssKiB ?? 0) } }
    }

    let options: BenchOptions
    let clock = MonotonicClock()
    let epoll: Epoll
    let signals: SignalFD
    let scratch: UnsafeMutableRawBufferPointer
    let directory: String
    var server: ServerProcess?
    var address = SocketAddress(host: "127.0.0.1", port: 0)
    var channelID: Int64 = 0
    var warmupID: Int64 = 0
    var subscribers: [Subscriber] = []
    let receipts: Receipts
    var ingest: IngestClient?
    var live = 0
    var handshaking = 0
    var failedSubscribers = 0
    var connectFailures: [String: Int] = [:]
    var lostSubscribers: [String: Int] = [:]
    /// `--resume`: subscribers waiting to reconnect, and why connections ended.
    var reconnecting = 0
    var reconnectReasons: [String: Int] = [:]
    /// `--group-by-header`: handshakes per group (reconnects included).
    var groupsEverServed: [String: Int] = [:]
    var groupsAtIngestEnd: [String: Int] = [:]

    // Figures for the report.
    var baseline = Snapshot()
    var idle = Snapshot()
    /// Right after the last subscriber went live: with `baseline`, the cost of the handshakes.
    var connected = Snapshot()
    var windowStart = Snapshot()
    var windowEnd = Snapshot()
    var connectSeconds = 0.0
    var ingestStart: UInt64 = 0
    var ingestEnd: UInt64 = 0
    /// When `--reload-at` sent SIGHUP: the monotonic clock and the wall clock (the server log's `ts` is wall time).
    var reloadSentAt: (monotonic: UInt64, unixMilliseconds: Int64)?
    /// `--reload-command`: the shell running it, and when it ended with what wait status.
    var reloadCommandPID: pid_t = 0
    var reloadCommandDone: (monotonic: UInt64, status: Int32)?
    var drainedCompletely = false
    var serverExit: ChildProcess.Exit?

    // Client shards (see BenchRun+Shards): the parent's links and their totals; a shard's own control socket and
    // the parent's final word.
    var shards: [ShardLink] = []
    var shardTotals: [ShardReport.Totals] = []
    var shardControl: FileDescriptor?
    var shardFinal: (sequence: Int, drainSeconds: Double)?

    init(options: BenchOptions) throws(BenchError) {
        self.options = options
        do {
            signals = try SignalFD(signals: [SIGINT, SIGTERM])
            epoll = try Epoll()
            try epoll.add(signals.fd, events: [.readable], token: Self.signalToken)
        } catch {
            throw .setup("\(error)")
        }
        scratch = .allocate(byteCount: 64 * 1024, alignment: 16)
        receipts = Receipts(totalMessages: options.totalMessages)
        var template = Array("/tmp/livefeed-bench.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw .setup("mkdtemp: \(String(cString: strerror(errno)))") }
        directory = String(cString: made)
        let first = options.shardOf?.firstIndex ?? 0
        subscribers = (0..<options.subscribersHeldHere).map {
            Subscriber(index: $0, source: "127.0.0.\(2 + (first + $0) % options.sourceAddresses)")
        }
    }

    deinit { scratch.deallocate() }

    var logPath: String { directory + "/server.log" }
    // MARK: phases

    func execute() throws(BenchError) {
        if options.foreign { return try executeForeign() }
        if let attach = options.attach {
            address = attach.address
            try createChannel()
            return try measure()
        }
        let serverPath = options.serverPath.isEmpty ? Self.executableDirectory() + "/livefeed" : options.serverPath
        guard access(serverPath, X_OK) == 0 else { throw .setup("no server binary at \(serverPath)") }
        // The caps must admit every subscriber (they come from a few source addresses); later arguments win, so
        // --server-arg can still set tighter ones.
        let room = String(options.subscribers + 64)
        let arguments =
            ["--listen", "127.0.0.1:0", "--workers", String(options.workers), "--db", directory + "/bench.db",
             "--max-connections", room, "--max-live", room, "--max-per-client", room]
            + (options.commitClock ? ["--commit-clock"] : []) + options.serverArguments
        let server = try ServerProcess(executable: serverPath, arguments: arguments, logPath: logPath)
        self.server = server
        address = try server.waitUntilReady(deadline: clock.nowNanoseconds + 60_000_000_000, clock: clock) {
            (try? !signals.drain().isEmpty) ?? false
        }
        try createChannel()
        try measure()
    }

    /// Another server, already running: subscribers open the subscribe URL, messages go to the publish URL.
    private func executeForeign() throws(BenchError) {
        guard kill(options.serverPID, 0) == 0 else { throw .setup("no process \(options.serverPID) (--server-pid)") }
        address = options.subscribeURL!.address
        channelID = 1
        try measure()
    }

    /// Connect, settle, ingest, drain, with snapshots between the phases.
    private func measure() throws(BenchError) {
        baseline = snapshot()

        let connectStart = clock.nowNanoseconds
        let connectDeadline = connectStart + UInt64(options.connectTimeoutSeconds * 1e9)
        try startShards()
        try connectSubscribers(deadline: connectDeadline)
        try awaitShardsLive(deadline: connectDeadline + 5_000_000_000)
        connectSeconds = Double(clock.nowNanoseconds - connectStart) / 1e9
        connected = snapshot()
        try pumpFor(seconds: options.settleSeconds)
        idle = snapshot()
        if let server, !server.isRunning() {
            throw .server("exited while subscribers connected (\(server.exit!))")
        }

        try ingestAndDrain()
        windowEnd = snapshot()
    }

    /// Stops the server, closes every socket and removes the temporary files (unless `--keep`).
    func finish() {
        for s in subscribers where s.fd != nil { closeSocket(s) }
        stopShards()
        ingest?.close()
        serverExit = server?.stop(graceSeconds: 20, clock: clock)
        if !options.keepFiles {
            for name in ["bench.db", "bench.db-wal", "bench.db-shm", "server.log"] { unlink(directory + "/" + name) }
            rmdir(directory)
        }
    }

    /// POSTs the warmup message (which creates the channel) and looks the channel up by name.
    private func createChannel() throws(BenchError) {
        let body = Array(#"{"channel":"bench","user":"bench","text":"warmup"}"#.utf8)
        let created = try ClientSocket.exchange(address, method: "POST", path: "/api/messages", body: body)
        guard created.status == 201, let id = IngestClient.ids(in: created.body).first else {
            throw .server(
                "warmup POST answered \(created.status): \(String(decoding: created.body.prefix(300), as: UTF8.self))")
        }
        warmupID = id
        // Behind a proxy the read may reach a follower that has not replicated the warmup yet: ask again, 10 s.
        let deadline = clock.nowNanoseconds + 10_000_000_000
        while true {
            let list = try ClientSocket.exchange(address, method: "GET", path: "/api/channels")
            if list.status == 200,
                let json = try? JSONSerialization.jsonObject(with: Data(list.body)) as? [String: Any],
                let channels = json["channels"] as? [[String: Any]],
                let bench = channels.first(where: { $0["name"] as? String == "bench" }),
                let channel = (bench["id"] as? NSNumber)?.int64Value
            {
                channelID = channel
                return
            }
            guard options.attach != nil, clock.nowNanoseconds < deadline else {
                throw .server("GET /api/channels answered \(list.status) without channel 'bench'")
            }
            usleep(50_000)
        }
    }

    private func ingestAndDrain() throws(BenchError) {
        let writer =
            if let publish = options.publishURL {
                try IngestClient(
                    server: publish.address, channelID: 0, publishPath: publish.path, maxInFlight: options.pipeline)
            } else {
                try IngestClient(server: address, channelID: channelID, maxInFlight: options.pipeline)
            }
        ingest = writer
        writer.committed = { [unowned self] first, count, clock in
            self.receipts.committed(first: first, count: count, at: clock)
        }
        writer.reconnected = { [unowned self] fd in
            try? self.epoll.add(fd, events: [.readable, .writable], token: Self.ingestToken)
        }
        do {
            try epoll.add(
                writer.fd, events: writer.wantsWrite ? [.readable, .writable] : [.readable], token: Self.ingestToken)
        } catch {
            throw .setup("epoll: \(error)")
        }
        let total = options.totalMessages
        let batch = min(1000, options.messagesPerPost)
        let rate = Double(options.rate)
        windowStart = snapshot()
        ingestStart = clock.nowNanoseconds
        // Message n is due at ingestStart + n / rate. The phase ends when all are answered, or 30 s late.
        let hardEnd = ingestStart + UInt64((options.seconds + 30) * 1e9)
        var nextProgress = ingestStart + 1_000_000_000
        var lastFrames = 0
        while clock.nowNanoseconds < hardEnd && !writer.failed && !(writer.sent == total && !writer.outstanding) {
            let now = clock.nowNanoseconds
            let due = min(total, Int(Double(now - ingestStart) * rate / 1e9) + 1)
            if writer.canPost && writer.connected
                && (due - writer.sent >= batch || (due == total && due > writer.sent))
            {
                // An explicit --batch caps every POST, also when catching up (one message per request is how servers
                // are compared); the automatic default catches up with up to 1,000.
                writer.post(count: min(options.batch > 0 ? options.batch : 1000, due - writer.sent), now: now)
                try? epoll.modify(
                    writer.fd, events: writer.wantsWrite ? [.readable, .writable] : [.readable], token: Self.ingestToken
                )
            }
            var timeout: Int64 = 50
            if writer.canPost && writer.sent < total {
                let nextDue = ingestStart + UInt64(Double(min(total - 1, writer.sent + batch - 1)) / rate * 1e9)
                timeout = nextDue > now ? Int64((nextDue - now + 999_999) / 1_000_000) : 0
            }
            if let at = options.reloadAtSeconds, reloadSentAt == nil, now - ingestStart >= UInt64(at * 1e9) {
                if let command = options.reloadCommand {
                    reloadCommandPID = try Self.spawnShell(command)
                } else if let server {
                    kill(server.pid, options.reloadSignal)
                }
                reloadSentAt = (now, Timestamp.nowUnixMilliseconds())
            }
            if reloadCommandPID > 0 {
                var status: Int32 = 0
                if waitpid(reloadCommandPID, &status, WNOHANG) == reloadCommandPID {
                    reloadCommandPID = 0
                    reloadCommandDone = (clock.nowNanoseconds, status)
                }
            }
            try pump(timeoutMilliseconds: Int32(min(50, timeout)))
            // The answer can wait behind thousands of ready subscribers in epoll's ready list (level-triggered, 256
            // per wait), and the next post with it: read it now rather than when its turn comes. At 10k x 100 posts
            // went out 80-350 ms late, then in a catch-up burst that the server's fan-out paid for.
            if writer.outstanding && writer.connected && !writer.failed { handleIngest([.readable]) }
            if clock.nowNanoseconds >= nextProgress {
                nextProgress += 1_000_000_000
                if options.progress {
                    let line =
                        "  t=\(Int((clock.nowNanoseconds - ingestStart) / 1_000_000_000))s sent=\(writer.sent)"
                        + " acked=\(writer.ids.count) frames/s=\(receipts.frames - lastFrames) live=\(live)\n"
                    FileHandle.standardError.write(Data(line.utf8))
                }
                lastFrames = receipts.frames
                if let server, !server.isRunning() { throw .server("exited during ingest (\(server.exit!))") }
                if options.foreign && kill(options.serverPID, 0) != 0 { throw .server("the server process is gone") }
            }
        }
        ingestEnd = clock.nowNanoseconds
        for s in subscribers where s.phase == .live && !s.group.isEmpty { groupsAtIngestEnd[s.group, default: 0] += 1 }

        receipts.finalSequence = writer.sent - 1
        receipts.complete = subscribers.filter { $0.phase == .live && $0.lastSequence == receipts.finalSequence }.count
        let drainEnd = clock.nowNanoseconds + UInt64(options.drainSeconds * 1e9)
        announceFinal(receipts.finalSequence, drainUntil: drainEnd)
        // With --resume, a subscriber waiting to reconnect still has to get there.
        func remaining() -> Int { options.resume ? subscribers.count - failedSubscribers : live }
        while receipts.complete < remaining() && clock.nowNanoseconds < drainEnd {
            try pump(timeoutMilliseconds: 10)
        }
        drainedCompletely = receipts.complete >= remaining()
        let shardsDrained = try collectShards(deadline: drainEnd + 30_000_000_000)
        drainedCompletely = drainedCompletely && shardsDrained
    }

    // MARK: loop

    /// One epoll_wait and its events.
    func pump(timeoutMilliseconds: Int32) throws(BenchError) {
        var interrupted = false
        do {
            try epoll.wait(timeoutMilliseconds: max(0, timeoutMilliseconds)) { token, events in
                if token < UInt64(subscribers.count) {
                    handleSubscriber(subscribers[Int(token)], events)
                } else if token == Self.ingestToken {
                    handleIngest(events)
                } else if token == Self.signalToken {
                    interrupted = (try? !signals.drain().isEmpty) ?? true
                } else if token == Self.controlToken {
                    handleControl()
                } else if token >= Self.shardTokenBase {
                    handleShard(Int(token - Self.shardTokenBase))
                }
            }
        } catch {
            throw .setup("\(error)")
        }
        if interrupted { throw .interrupted }
        serviceReconnects()
    }

    func pumpFor(seconds: Double) throws(BenchError) {
        let end = clock.nowNanoseconds + UInt64(seconds * 1e9)
        while clock.nowNanoseconds < end { try pump(timeoutMilliseconds: 10) }
    }

    private func handleIngest(_ events: Epoll.Events) {
        guard let writer = ingest else { return }
        if events.contains(.writable) { writer.onWritable() }
        if events.contains(.readable) || events.contains(.readHangup) || events.contains(.hangup) {
            _ = writer.onReadable(scratch: scratch, now: clock.nowNanoseconds)
        }
        // A failed writer is done: its socket (closed by the server, usually) must not wake every pump again.
        if writer.failed {
            epoll.remove(writer.fd)
            return
        }
        try? epoll.modify(
            writer.fd, events: writer.wantsWrite ? [.readable, .writable] : [.readable], token: Self.ingestToken)
    }

    static func executableDirectory() -> String { ChildProcess.executableDirectory() }
}
