import Glibc
import LivefeedProtocol

/// Command-line settings of `livefeed-bench`. `--help` prints them.
struct BenchOptions {
    var subscribers = 1000
    var rate = 100
    var seconds = 10.0
    var workers = 2
    var sourceAddresses = 8
    var serverArguments: [String] = []
    /// Start livefeed with `--commit-clock`, so latency is also measured from each commit; off for a build older
    /// than that flag (`--no-commit-clock`).
    var commitClock = true
    /// Messages per POST; 0 picks one POST every 10 ms (rate / 100, at least 1).
    var batch = 0
    var pipeline = 1
    /// At most this many subscribers are between connect() and their 101 at once.
    var connectBatch = 200
    var connectTimeoutSeconds = 120.0
    var settleSeconds = 1.0
    var drainSeconds = 5.0
    /// `--reload-at S`: SIGHUP to the server this many seconds into the ingest (livefeed started by the bench).
    var reloadAtSeconds: Double?
    /// `--reload-signal usr2`: an upgrade (the supervisor re-executes itself) instead of a reload.
    var reloadSignal = SIGHUP
    var serverPath = ""
    var keepFiles = false
    /// `--message-log PATH`: one line per message (when posted, first and last receipt), to see where a tail comes from.
    var messageLogPath: String?
    var progress = false
    var smoke = false
    /// Subscribers one process holds; the rest go to client shards (see BenchRun+Shards). main sets the default
    /// from the descriptor limit.
    var perProcess = 0
    /// `--publisher-alone`: the parent process holds no subscribers, so the publisher does not share its loop with
    /// their reads (every subscriber is in a client shard).
    var publisherAlone = false
    /// Subscribers this process holds: a shard all it was given; the parent up to `perProcess` (none with
    /// `publisherAlone`), and shards for the rest.
    var subscribersHeldHere: Int {
        shardOf != nil ? subscribers : publisherAlone ? 0 : min(subscribers, perProcess)
    }
    /// Set in a client shard: where its subscribers connect.
    var shardOf: ShardTarget?
    /// Another server to measure instead of starting livefeed (`--subscribe-url`, `--publish-url`, `--server-pid`).
    var subscribeURL: BenchURL?
    var publishURL: BenchURL?
    var serverPID: Int32 = 0

    var foreign: Bool { subscribeURL != nil }
    /// `--attach http://127.0.0.1:PORT`: a livefeed already running there (under systemd, say), measured as the
    /// bench measures its own; no CPU or memory figures (its processes are not the bench's to find).
    var attach: BenchURL?
    /// `--reload-command CMD`: what `--reload-at` runs (`/bin/sh -c CMD`) instead of signalling the server, e.g.
    /// `systemctl restart livefeed`.
    var reloadCommand: String?
    /// `--resume`: a subscriber the server closes or drops reconnects with the id of the last message it received
    /// (as livefeed.js does), and the run checks continuity across reconnects.
    var resume = false
    /// `--group-by-header NAME`: latency and connections reported per value of this response header of the 101
    /// (e.g. a proxy's `X-Served-By`: which host serves each subscriber).
    var groupHeader: String?

    /// Messages per POST after resolving the automatic default.
    var messagesPerPost: Int { batch > 0 ? batch : max(1, rate / 100) }
    var totalMessages: Int { Int((Double(rate) * seconds).rounded()) }

    static let usage = """
        usage: livefeed-bench [options]
          --subscribers K        WebSocket subscribers on one channel (default 1000)
          --rate R               messages per second ingested over HTTP (default 100)
          --seconds T            how long to ingest (default 10)
          --workers W            server worker processes (default 2)
          --batch B              messages per POST (default: rate/100, i.e. one POST per 10 ms; at least 1)
          --pipeline N           POSTs in flight at once on the keep-alive connection (HTTP pipelining; default 1:
                                 each waits for the answer before it, so a slow answer holds the rate back)
          --source-addresses N   spread subscribers over client addresses 127.0.0.2 ... 127.0.0.(N+1) (default 8)
          --server-arg X         pass X to the server (repeatable, e.g. --server-arg --poll-ms --server-arg 2)
          --server PATH          server binary (default: livefeed next to this executable)
          --no-commit-clock      do not start it with --commit-clock (a livefeed older than that flag); latency is
                                 then measured from each POST's write only, not also from its commit
          --connect-batch N      subscribers handshaking at once (default 200)
          --connect-timeout S    deadline for all subscribers to be live (default 120)
          --settle S             idle wait before measuring memory per idle connection (default 1)
          --drain S              after ingest stops, wait at most this long for the last frames (default 5)
          --reload-at S          SIGHUP the server S seconds into the ingest and report the reload: connections
                                 moved, how long moving took, closes seen, fan-out time of messages meanwhile
          --reload-signal hup|usr2  the signal --reload-at sends: hup reloads (default), usr2 upgrades (the
                                 supervisor re-executes itself, `livefeed upgrade`)
          --attach http://127.0.0.1:PORT   a livefeed already running there (e.g. under systemd) instead of one the
                                 bench starts; every check as usual, no server CPU or memory figures
          --reload-command CMD   what --reload-at runs (/bin/sh -c CMD) instead of a signal, e.g. "systemctl restart
                                 livefeed"; the report gives how long it ran and the latency of messages meanwhile
          --resume               a subscriber closed or dropped by the server reconnects (after 0.1-0.5 s, then
                                 backing off to 2 s) with after_id of the last message it received, as pages do;
                                 gaps and duplicates are still counted across reconnects
          --group-by-header NAME latency and subscribers per value of this header of the 101 response (a proxy's
                                 X-Served-By, say: which host serves each subscriber)
          --progress             print one line per second while ingesting (stderr)
          --keep                 keep the temporary directory (database, server log)
          --message-log PATH     write one line per message: sequence, id, posted (ms after the first post), first
                                 and last receipt (ms after its post); which messages make the tail, and when
          --per-process N        subscribers one bench process holds (default: what its descriptor limit allows);
                                 more start client shards, copies of the bench that report back to this one
          --publisher-alone      every subscriber in a client shard: the publisher's process reads none of them,
                                 so its answers are read at once (latency is then measured from the POST only)
          --subscribe-url ws://127.0.0.1:PORT/PATH   measure another WebSocket server (started by you) instead
          --publish-url http://127.0.0.1:PORT/PATH   of livefeed: subscribers open the first, each message is one
          --server-pid PID       POST of its envelope to the second (delivered verbatim); CPU and RSS are read for
                                 PID and its descendants. All three go together; --batch must be 1.
          --smoke                small self-check: K=10, R=50, T=1 unless given; exits non-zero on any failure
        Exit status: 0 when every subscriber saw every message exactly once, 1 when not, 2 usage, 3 setup failure.
        """

    enum ParseError: Error, CustomStringConvertible {
        case usage(String)
        case help
        var description: String {
            switch self {
            case .usage(let s): s
            case .help: BenchOptions.usage
            }
        }
    }

    static func parse(_ args: [String]) throws(ParseError) -> BenchOptions {
        var o = BenchOptions()
        if args.contains("--smoke") {
            o.smoke = true
            o.subscribers = 10
            o.rate = 50
            o.seconds = 1
            o.sourceAddresses = 2
            o.settleSeconds = 0.2
        }
        var it = args.makeIterator()
        func value(_ flag: String) throws(ParseError) -> String {
            guard let v = it.next() else { throw .usage("\(flag) needs a value") }
            return v
        }
        func int(_ flag: String, _ range: ClosedRange<Int>) throws(ParseError) -> Int {
            let raw = try value(flag)
            guard let v = Int(raw), range.contains(v) else {
                throw .usage("\(flag) must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(raw)'")
            }
            return v
        }
        func seconds(_ flag: String, _ range: ClosedRange<Double>) throws(ParseError) -> Double {
            let raw = try value(flag)
            guard let v = Double(raw), range.contains(v) else {
                throw .usage("\(flag) must be a number of seconds from \(range.lowerBound) to \(range.upperBound)")
            }
            return v
        }
        while let arg = it.next() {
            switch arg {
            case "-h", "--help": throw .help
            case "--subscribers": o.subscribers = try int(arg, 0...200_000)
            case "--rate": o.rate = try int(arg, 1...100_000)
            case "--seconds": o.seconds = try seconds(arg, 0.1...3600)
            case "--workers": o.workers = try int(arg, 1...64)
            case "--batch": o.batch = try int(arg, 1...1000)
            case "--pipeline": o.pipeline = try int(arg, 1...64)
            case "--source-addresses": o.sourceAddresses = try int(arg, 1...250)
            case "--server-arg": o.serverArguments.append(try value(arg))
            case "--server": o.serverPath = try value(arg)
            case "--connect-batch": o.connectBatch = try int(arg, 1...1024)
            case "--connect-timeout": o.connectTimeoutSeconds = try seconds(arg, 1...3600)
            case "--settle": o.settleSeconds = try seconds(arg, 0...600)
            case "--drain": o.drainSeconds = try seconds(arg, 0...600)
            case "--reload-at": o.reloadAtSeconds = try seconds(arg, 0...3600)
            case "--reload-signal":
                switch try value(arg) {
                case "hup": o.reloadSignal = SIGHUP
                case "usr2": o.reloadSignal = SIGUSR2
                case let other: throw .usage("--reload-signal takes hup or usr2, not '\(other)'")
                }
            case "--progress": o.progress = true
            case "--keep": o.keepFiles = true
            case "--no-commit-clock": o.commitClock = false
            case "--message-log": o.messageLogPath = try value(arg)
            case "--smoke": break
            case "--per-process": o.perProcess = try int(arg, 1...200_000)
            case "--publisher-alone": o.publisherAlone = true
            case "--subscribe-url", "--publish-url":
                let raw = try value(arg)
                guard let u = BenchURL(parsing: raw, scheme: arg == "--subscribe-url" ? "ws" : "http") else {
                    throw .usage("\(arg): not a \(arg == "--subscribe-url" ? "ws" : "http")://127.0.0.x:PORT/PATH URL")
                }
                if arg == "--subscribe-url" { o.subscribeURL = u } else { o.publishURL = u }
            case "--attach":
                let raw = try value(arg)
                guard let u = BenchURL(parsing: raw, scheme: "http") else {
                    throw .usage("--attach: not an http://127.0.0.x:PORT URL")
                }
                o.attach = u
            case "--reload-command": o.reloadCommand = try value(arg)
            case "--resume": o.resume = true
            case "--group-by-header": o.groupHeader = try value(arg)
            case "--server-pid": o.serverPID = Int32(try int(arg, 1...Int(Int32.max)))
            case "--shard-of":
                let raw = try value(arg)
                guard let t = ShardTarget(parsing: raw) else { throw .usage("--shard-of: not host:port/channel/after/first") }
                o.shardOf = t
            default: throw .usage("unknown option '\(arg)' (see --help)")
            }
        }
        let foreignFlags = [o.subscribeURL != nil, o.publishURL != nil, o.serverPID != 0]
        if o.shardOf == nil && foreignFlags.contains(true) && foreignFlags.contains(false) {
            throw .usage("--subscribe-url, --publish-url and --server-pid go together")
        }
        if o.foreign && o.shardOf == nil {
            if o.batch > 1 { throw .usage("another server takes one message per POST: --batch must be 1") }
            o.batch = 1
        }
        if o.foreign && o.reloadAtSeconds != nil { throw .usage("--reload-at needs the livefeed the bench starts") }
        if o.foreign && o.attach != nil { throw .usage("--attach measures a livefeed; --subscribe-url another server") }
        if o.attach != nil && o.reloadAtSeconds != nil && o.reloadCommand == nil {
            throw .usage("--reload-at with --attach needs --reload-command (the bench did not start that server)")
        }
        if o.reloadCommand != nil && o.reloadAtSeconds == nil { throw .usage("--reload-command needs --reload-at") }
        if let at = o.reloadAtSeconds, at >= o.seconds { throw .usage("--reload-at must be within --seconds") }
        if o.totalMessages < 1 { throw .usage("--rate × --seconds must be at least one message") }
        if o.totalMessages > 50_000_000 { throw .usage("--rate × --seconds is capped at 50,000,000 messages") }
        return o
    }
}

/// `ws://` or `http://` with a numeric IPv4 loopback address, a port and a path: the bench talks to loopback only.
struct BenchURL {
    var address: SocketAddress
    var path: String

    init?(parsing text: String, scheme: String) {
        guard text.hasPrefix(scheme + "://") else { return nil }
        let rest = text.dropFirst(scheme.count + 3)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let a = SocketAddress(parsing: String(rest[..<slash])), a.host.hasPrefix("127.") else { return nil }
        address = a
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
    }

    var description: String { "\(address)\(path)" }
}
