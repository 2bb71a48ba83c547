import Foundation
import LivefeedProtocol

/// Worker settings, passed by the supervisor on the command line.
struct WorkerConfig {
    var index = 0
    var databasePath = ""
    var controlFD: Int32 = 3
    var enableEcho = false
    /// `--commit-clock`: a 201 to a POST says when its commit ended (CLOCK_MONOTONIC ns, `Livefeed-Commit-Clock`), so
    /// a bench on the same host measures from the commit, as the performance goals do. Off by default: the clock
    /// tells how long the host has been up, which a public server need not say.
    var commitClock = false
    /// How often the worker looks for rows written by any process while it has live subscribers.
    var pollMilliseconds = 2
    /// Rows per catch-up query.
    var replayBatch = 500
    var maxBodyBytes = 1 << 20
    var maxMessagesPerPost = 1000
    /// Per-connection outgoing bound; a message subscriber past it is a slow consumer.
    var maxQueueBytes = 4 << 20
    var maxQueueFrames = 4096
    /// A resume further behind than this many messages is told `too_far_behind` instead of replayed.
    var maxBacklog = 10_000
    var pingIntervalMilliseconds: UInt64 = 30_000
    var pingTimeoutMilliseconds: UInt64 = 10_000
    /// Origins allowed to open live connections; empty means same origin only, "*" means any.
    var allowedOrigins: [String] = []
    /// When set, required on /live/... and POST /api/messages. From LIVEFEED_ACCESS_TOKEN, never argv.
    var accessToken: String?
    var idleTimeoutMilliseconds: UInt64 = 60_000
    /// A request (head and body) must be complete this long after its first byte.
    var requestTimeoutMilliseconds: UInt64 = 15_000
    /// Queued output that makes no progress this long closes the connection (a peer that stopped reading).
    var sendTimeoutMilliseconds: UInt64 = 30_000
    /// The request head limit, the same as the supervisor's `--max-head-bytes`.
    var maxHeadBytes = 8192
    /// Where `livefeed.js` and the htmx files are; nil: found from the executable (see `StaticAssets`).
    var staticDirectory: String?
    var htmxDirectory: String?
    /// Scale-out (docs/scale-out.md): a primary writes a heartbeat a follower measures its lag by; a follower
    /// opens the database read-only, answers writes with the primary's address, and holds a cursor it has not
    /// reached yet instead of calling it ahead.
    var role = HostRole.standalone
    /// Where a follower sends writers (307 to `primaryURL` + the path); nil: 503.
    var primaryURL: String?
    /// A follower reading the replica through Litestream's VFS: the replica URL, the extension, the poll interval.
    /// Without a replica URL a follower reads `--db`, a file something else keeps current.
    var replicaURL: String?
    var litestreamVFS: String?
    var replicaPollMilliseconds = 50

    /// Opens the database as this worker's role reads it.
    func openStore() throws -> MessageStore {
        guard role == .follower, let replicaURL else {
            return try MessageStore(path: databasePath, readOnly: role == .follower)
        }
        try LitestreamReplica.load(litestreamVFS)
        return try MessageStore(
            path: LitestreamReplica.uri(replicaURL: replicaURL, pollMilliseconds: replicaPollMilliseconds),
            readOnly: true, uri: true)
    }

    enum ParseError: Error, CustomStringConvertible {
        case usage(String)
        var description: String {
            switch self {
            case .usage(let s): s
            }
        }
    }

    static func parse(_ args: ArraySlice<String>) throws(ParseError) -> WorkerConfig {
        var c = WorkerConfig()
        var it = args.makeIterator()
        func value(_ flag: String) throws(ParseError) -> String {
            guard let v = it.next() else { throw .usage("\(flag) needs a value") }
            return v
        }
        // Bounded so that no sum of a flag with a clock or a count can overflow: 2^40 ms is 34 years, 2^40 bytes 1 TiB.
        func int(_ flag: String) throws(ParseError) -> Int {
            guard let v = Int(try value(flag)), (0...(1 << 40)).contains(v) else {
                throw .usage("\(flag) needs an integer from 0 to \(1 << 40)")
            }
            return v
        }
        while let arg = it.next() {
            switch arg {
            case "--index": c.index = try int(arg)
            case "--db": c.databasePath = try value(arg)
            case "--control-fd":
                guard let fd = Int32(exactly: try int(arg)) else { throw .usage("--control-fd is not a descriptor") }
                c.controlFD = fd
            case "--enable-echo": c.enableEcho = true
            case "--commit-clock": c.commitClock = true
            case "--poll-ms": c.pollMilliseconds = max(1, try int(arg))
            case "--replay-batch": c.replayBatch = max(1, try int(arg))
            case "--max-body-bytes": c.maxBodyBytes = try int(arg)
            case "--max-queue-bytes": c.maxQueueBytes = try int(arg)
            case "--max-queue-frames": c.maxQueueFrames = try int(arg)
            case "--max-backlog": c.maxBacklog = try int(arg)
            case "--ping-interval-ms": c.pingIntervalMilliseconds = UInt64(max(100, try int(arg)))
            case "--ping-timeout-ms": c.pingTimeoutMilliseconds = UInt64(max(100, try int(arg)))
            case "--request-timeout-ms": c.requestTimeoutMilliseconds = UInt64(max(100, try int(arg)))
            case "--send-timeout-ms": c.sendTimeoutMilliseconds = UInt64(max(100, try int(arg)))
            case "--max-head-bytes": c.maxHeadBytes = max(1024, try int(arg))
            case "--role":
                let raw = try value(arg)
                guard let role = HostRole(rawValue: raw) else { throw .usage("--role takes standalone, primary or follower") }
                c.role = role
            case "--primary-url": c.primaryURL = try value(arg)
            case "--replica-url": c.replicaURL = try value(arg)
            case "--litestream-vfs": c.litestreamVFS = try value(arg)
            case "--replica-poll-ms": c.replicaPollMilliseconds = max(1, try int(arg))
            case "--allowed-origins":
                c.allowedOrigins = try value(arg).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            case "--static-dir": c.staticDirectory = try value(arg)
            case "--htmx-dir": c.htmxDirectory = try value(arg)
            default: throw .usage("unknown worker option \(arg)")
            }
        }
        if c.databasePath.isEmpty { throw .usage("--db is required") }
        if let token = ProcessInfo.processInfo.environment["LIVEFEED_ACCESS_TOKEN"], !token.isEmpty {
            c.accessToken = token
        }
        // Through Litestream's VFS every query reports a new data_version, and new transactions arrive once per
        // `replicaPollMilliseconds`: looking every 2 ms cost an idle follower worker with one subscriber 8 % of a
        // core (0.82 s of CPU in 10 s); half the VFS's interval adds at most that much latency.
        if c.role == .follower && c.replicaURL != nil {
            c.pollMilliseconds = max(c.pollMilliseconds, c.replicaPollMilliseconds / 2)
        }
        return c
    }
}
