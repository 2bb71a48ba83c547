import Foundation
import Glibc
import LivefeedProtocol

/// Supervisor settings from flags (and, where noted, environment variables). `--help` prints them.
struct SupervisorConfig {
    var listen = SocketAddress(host: "127.0.0.1", port: 8080)
    /// A second socket that serves only /metrics, /healthz and /status (when not socket-activated).
    var metricsListen: SocketAddress?
    var logTarget = Journal.Setting.auto
    var workers = 2
    /// A worker takes a channel's subscribers until it holds this many of them, then they spread over the
    /// workers (`WorkerTable.pick(channel:bound:)`), and a publisher goes to the worker holding the most channel
    /// subscribers (`pickForPublisher`); 0 places every connection by load alone. 10,000: a channel's messages
    /// are read, encoded and ticked by one worker up to that size, which on two cores beat spreading it (the
    /// bench client beside the server: 10,000 subscribers at 100/s, half the CPU per frame and two thirds of the
    /// p99 of an even split; docs/performance.md).
    var channelAffinity = 10_000
    var databasePath = ""
    var workerPath = ""
    var demo = false
    var demoIntervalMilliseconds = 500
    var enableEcho = false
    var maxHeadBytes = 8192
    var headTimeoutMilliseconds: UInt64 = 10_000
    /// TCP_DEFER_ACCEPT on the listeners: a connection is accepted once its first bytes are in, or after this
    /// many seconds of silence (then `headTimeoutMilliseconds` runs). 0: accepted at once.
    var deferAcceptSeconds = 1
    /// Connections still sending their heads, at most; nil derives it from the descriptor limit (`Door`).
    var maxPending: Int?
    var drainMilliseconds: UInt64 = 10_000
    var closeSpreadMilliseconds: Int64 = 1000
    /// What a reload does with live connections: move them to the new workers (clients see nothing), or close
    /// them with 1012 (clients reconnect with their cursor). Moving falls back to closing where it cannot.
    enum ReloadMode: String { case handover, close }
    var reloadMode = ReloadMode.handover
    /// How this process was started, for `livefeed upgrade` to start the next one the same way (set by main).
    var executablePath = ""
    var arguments: [String] = []
    var environment: [String: String] = [:]
    /// Retry suggested to live clients closed by a reload (new workers already serve) and by a stop (the
    /// service is usually restarting); each client's is jittered by the worker.
    var reloadRetryAfterMilliseconds: Int64 = 250
    var stopRetryAfterMilliseconds: Int64 = 2000
    var reloadTimeoutMilliseconds: UInt64 = 30_000
    var workerTimeoutMilliseconds: UInt64 = 20_000
    var caps = ConnectionCaps.Limits()
    /// Retry-After on a refusal for a cap.
    var capRetryAfterSeconds = 5
    var workerOptions: [String] = []
    /// SO_SNDBUF of both ends of each worker's control socket, from LIVEFEED_CONTROL_SNDBUF: only for tests that
    /// need the socket to fill after a few handoffs or records; nil keeps the kernel's default.
    var controlSendBuffer: Int32?
    /// Whether pending connections peek from an offset (SO_PEEK_OFF) where the kernel supports it;
    /// LIVEFEED_PEEK_OFFSET=0 turns it off, so tests cover the path older kernels take.
    var peekFromOffset = true
    /// Passed to workers in their environment (never on a command line, where `ps` would show it).
    var accessToken: String?
    /// Scale-out (docs/scale-out.md): standalone (one host), primary (writes, and a heartbeat followers measure
    /// their lag by), follower (serves a read-only replica kept current by Litestream; writes go to the primary).
    var role = HostRole.standalone
    /// A follower answers writes with 307 to this URL (the primary's, as clients reach it); without it, 503.
    var primaryURL: String?
    /// A follower reads the primary's Litestream replica at this URL through Litestream's VFS extension (the
    /// `litestream-vfs.so` of PyPI's litestream-vfs, `litestreamVFS`); without it, `--db` read-only.
    var replicaURL: String?
    var litestreamVFS: String?

    static let usage = """
        usage: livefeed [options]
          --listen HOST:PORT        address to bind (default 127.0.0.1:8080; port 0 picks one); sockets passed
                                    by systemd (LISTEN_FDS, names http and metrics) are used instead
          --metrics-listen HOST:PORT
                                    also bind a socket that serves only /metrics, /healthz and /status; the
                                    main socket then no longer answers /metrics and /status
          --log-target auto|journal|stderr
                                    records to journald as fields, or JSON lines on stderr (default auto:
                                    journald when stderr is the journal stream, JOURNAL_STREAM)
          --workers N               worker processes (default 2)
          --channel-affinity N      a channel's live subscribers go to one worker until it holds N of them,
                                    then spread over the workers; a connection whose first request is
                                    POST /api/messages goes to the worker holding the most channel
                                    subscribers (default 10000; 0: by load alone)
          --db PATH                 SQLite database (default $STATE_DIRECTORY/livefeed.db or ./state/livefeed.db)
          --role standalone|primary|follower
                                    scale-out role (default standalone; docs/scale-out.md): a primary writes a
                                    heartbeat; a follower serves a read-only replica, holds cursors it has not
                                    reached yet and reports how far behind it is (or set LIVEFEED_ROLE)
          --primary-url URL         where a follower sends writers: 307 to URL + path (or LIVEFEED_PRIMARY_URL)
          --replica-url URL         a follower reads the primary's Litestream replica there (file://, s3://...)
                                    through Litestream's VFS (or LIVEFEED_REPLICA_URL); without it, --db read-only
          --litestream-vfs PATH     the VFS extension, litestream-vfs.so (PyPI litestream-vfs; or LIVEFEED_LITESTREAM_VFS)
          --replica-poll-ms MS      how often a follower's VFS looks for new transactions (default 50)
          --demo                    seed sample data and keep inserting a message every --demo-interval-ms
          --demo-interval-ms MS     demo writer interval (default 500)
          --enable-echo             serve /live/echo (WebSocket echo, for conformance testing)
          --commit-clock            a 201 to POST /api/messages carries Livefeed-Commit-Clock: the commit's
                                    CLOCK_MONOTONIC in ns (for livefeed-bench on this host: commit-to-receipt)
          --worker-path PATH        livefeed-worker binary (default: next to this executable)
          --max-head-bytes N        request head limit at the door (default 8192)
          --head-timeout-ms MS      time a client has to send its request head (default 10000)
          --defer-accept-s S        accept a connection once its first bytes arrive, or after S seconds of
                                    silence (TCP_DEFER_ACCEPT; default 1, 0 accepts at once)
          --max-pending N           connections still sending their heads, at most; past it the oldest is
                                    shed with 408 (default: the descriptor limit less a reserve, so /healthz
                                    and /metrics always answer)
          --drain-ms MS             how long a stop or reload waits for old workers to drain (default 10000)
          --close-spread-ms MS      window over which draining workers close live clients (default 1000)
          --reload-mode handover|close
                                    on SIGHUP, move live connections to the new workers without a reconnect
                                    (default), or close them with 1012 to reconnect by cursor
          --reload-timeout-ms MS    how long SIGHUP waits for new workers before giving up (default 30000)
          --worker-timeout-ms MS    a worker silent this long is killed and restarted (default 20000)
          --max-connections N       connections held by workers, all views (default 4096)
          --max-live N              live connections per live view (default 1024)
          --max-live-per-view VIEW=N[,VIEW=N]
                                    cap of single live views, overriding --max-live (repeatable; 0: never live)
          --max-per-client N        connections per client address, waiting or served (default 64)
          --poll-ms MS              workers' database poll interval (default 2)
          --replay-batch N          rows per catch-up query (default 500)
          --max-body-bytes N        request body limit (default 1048576)
          --max-queue-bytes N       per-connection outgoing bound (default 4194304)
          --max-queue-frames N      per-connection outgoing bound in frames (default 4096)
          --max-backlog N           resume further behind than this is told too_far_behind (default 10000)
          --ping-interval-ms MS     ping a live client silent this long (default 30000)
          --ping-timeout-ms MS      close a live client that does not answer a ping in this time (default 10000)
          --request-timeout-ms MS   a worker answers 408 to a request (head and body) not complete in this time,
                                    counted from its first byte (default 15000)
          --send-timeout-ms MS      close a connection whose queued output makes no progress this long
                                    (a client that stopped reading; default 30000)
          --allowed-origins LIST    comma-separated Origins allowed besides the same origin (* for any)
          --access-token-file PATH  require this token on /live/... and POST /api/messages
                                    (or set LIVEFEED_ACCESS_TOKEN)
          --static-dir DIR          where livefeed.js is (default: static/ of the checkout holding the binaries)
          --htmx-dir DIR            where htmx.min.js and ws.js are (default: vendor/htmx/ beside static/)
        The caps can also be set by LIVEFEED_MAX_CONNECTIONS, LIVEFEED_MAX_LIVE, LIVEFEED_MAX_LIVE_PER_VIEW and
        LIVEFEED_MAX_PER_CLIENT; flags win.
               livefeed import [--db PATH] FILE.jsonl   load messages (- for standard input)
               livefeed reload PID                      SIGHUP to a running supervisor (systemd's ExecReload=)
        """

    enum ParseError: Error, CustomStringConvertible {
        case usage(String)
        case help
        var description: String {
            switch self {
            case .usage(let s): s
            case .help: SupervisorConfig.usage
            }
        }
    }

    static func readToken(_ path: String, flag: String) throws(ParseError) -> String {
        guard FileManager.default.isReadableFile(atPath: path) else {
            let why = FileManager.default.fileExists(atPath: path) ? "not readable by this user" : "no such file"
            throw .usage("\(flag): cannot read \(path) (\(why)); under systemd use LoadCredential=token:\(path)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else { throw .usage("\(flag): \(path) holds no token") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func parse(_ args: [String], environment: [String: String]) throws(ParseError) -> SupervisorConfig {
        var c = SupervisorConfig()
        // Environment first, so a flag on the command line wins.
        func envInt(_ name: String, from lowest: Int = 1) throws(ParseError) -> Int? {
            guard let raw = environment[name], !raw.isEmpty else { return nil }
            guard let v = Int(raw), (lowest...Self.maxCap).contains(v) else {
                throw .usage("\(name) must be an integer from \(lowest) to \(Self.maxCap), not '\(raw)'")
            }
            return v
        }
        func role(_ raw: String, _ source: String) throws(ParseError) -> HostRole {
            guard let r = HostRole(rawValue: raw) else {
                throw .usage("\(source) takes standalone, primary or follower, not '\(raw)'")
            }
            return r
        }
        func url(_ raw: String, _ source: String) throws(ParseError) -> String {
            guard raw.hasPrefix("http://") || raw.hasPrefix("https://"), raw.count <= 2048,
                raw.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f })
            else { throw .usage("\(source) takes an http:// or https:// URL without spaces, not '\(raw)'") }
            return raw
        }
        if let raw = environment["LIVEFEED_ROLE"], !raw.isEmpty { c.role = try role(raw, "LIVEFEED_ROLE") }
        if let raw = environment["LIVEFEED_PRIMARY_URL"], !raw.isEmpty {
            c.primaryURL = try url(raw, "LIVEFEED_PRIMARY_URL")
        }
        if let raw = environment["LIVEFEED_REPLICA_URL"], !raw.isEmpty { c.replicaURL = raw }
        if let raw = environment["LIVEFEED_LITESTREAM_VFS"], !raw.isEmpty { c.litestreamVFS = raw }
        if let v = try envInt("LIVEFEED_MAX_CONNECTIONS") { c.caps.global = v }
        // 0 turns live off, as `--max-live 0` does (the README documents both; the variable once refused it).
        if let v = try envInt("LIVEFEED_MAX_LIVE", from: 0) { c.caps.live = v }
        if let v = try envInt("LIVEFEED_MAX_PER_CLIENT") { c.caps.perClient = v }
        if let raw = environment["LIVEFEED_CONTROL_SNDBUF"], !raw.isEmpty {
            guard let v = Int32(raw), (1024...(1 << 24)).contains(v) else {
                throw .usage("LIVEFEED_CONTROL_SNDBUF must be a byte count from 1024 to 16777216, not '\(raw)'")
            }
            c.controlSendBuffer = v
        }
        if let raw = environment["LIVEFEED_PEEK_OFFSET"], !raw.isEmpty {
            guard raw == "0" || raw == "1" else { throw .usage("LIVEFEED_PEEK_OFFSET must be 0 or 1, not '\(raw)'") }
            c.peekFromOffset = raw == "1"
        }
        if let raw = environment["LIVEFEED_MAX_LIVE_PER_VIEW"], !raw.isEmpty {
            try Self.parseViewCaps(raw, into: &c.caps.perView, source: "LIVEFEED_MAX_LIVE_PER_VIEW")
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
        while let arg = it.next() {
            switch arg {
            case "-h", "--help": throw .help
            case "--listen":
                let raw = try value(arg)
                guard let a = SocketAddress(parsing: raw) else {
                    throw .usage("--listen takes a numeric IPv4 or [IPv6] address and a port, not '\(raw)'")
                }
                c.listen = a
            case "--metrics-listen":
                let raw = try value(arg)
                guard let a = SocketAddress(parsing: raw) else {
                    throw .usage("--metrics-listen takes a numeric IPv4 or [IPv6] address and a port, not '\(raw)'")
                }
                c.metricsListen = a
            case "--reload-mode":
                let raw = try value(arg)
                guard let m = ReloadMode(rawValue: raw) else {
                    throw .usage("--reload-mode takes handover or close, not '\(raw)'")
                }
                c.reloadMode = m
            case "--log-target":
                let raw = try value(arg)
                guard let t = Journal.Setting(rawValue: raw) else {
                    throw .usage("--log-target takes auto, journal or stderr, not '\(raw)'")
                }
                c.logTarget = t
            case "--workers": c.workers = try int(arg, 1...64)
            case "--channel-affinity": c.channelAffinity = try int(arg, 0...Self.maxCap)
            case "--db":
                // Empty (an unset variable in a unit's ExecStart=) once meant the default path, silently.
                let raw = try value(arg)
                guard !raw.isEmpty else { throw .usage("--db needs a path, not an empty string") }
                c.databasePath = raw
            case "--role": c.role = try role(try value(arg), arg)
            case "--primary-url": c.primaryURL = try url(try value(arg), arg)
            case "--replica-url": c.replicaURL = try value(arg)
            case "--litestream-vfs": c.litestreamVFS = try value(arg)
            case "--replica-poll-ms": c.workerOptions += [arg, String(try int(arg, 1...60_000))]
            case "--demo": c.demo = true
            case "--demo-interval-ms": c.demoIntervalMilliseconds = try int(arg, 10...3_600_000)
            case "--enable-echo": c.enableEcho = true
            case "--commit-clock": c.workerOptions.append(arg)
            case "--worker-path": c.workerPath = try value(arg)
            case "--max-head-bytes": c.maxHeadBytes = try int(arg, 1024...65536)
            case "--max-pending": c.maxPending = try int(arg, 1...Self.maxCap)
            case "--head-timeout-ms": c.headTimeoutMilliseconds = UInt64(try int(arg, 100...600_000))
            case "--defer-accept-s": c.deferAcceptSeconds = try int(arg, 0...60)
            case "--drain-ms": c.drainMilliseconds = UInt64(try int(arg, 0...600_000))
            case "--close-spread-ms": c.closeSpreadMilliseconds = Int64(try int(arg, 0...60_000))
            case "--reload-timeout-ms": c.reloadTimeoutMilliseconds = UInt64(try int(arg, 100...600_000))
            case "--worker-timeout-ms": c.workerTimeoutMilliseconds = UInt64(try int(arg, 500...600_000))
            case "--max-connections": c.caps.global = try int(arg, 1...Self.maxCap)
            case "--max-live": c.caps.live = try int(arg, 0...Self.maxCap)
            case "--max-live-per-view": try Self.parseViewCaps(try value(arg), into: &c.caps.perView, source: arg)
            case "--max-per-client": c.caps.perClient = try int(arg, 1...Self.maxCap)
            case "--poll-ms", "--replay-batch", "--max-body-bytes", "--max-queue-bytes", "--max-queue-frames",
                "--max-backlog", "--ping-interval-ms", "--ping-timeout-ms", "--request-timeout-ms", "--send-timeout-ms":
                c.workerOptions += [arg, String(try int(arg, 1...1 << 30))]
            case "--allowed-origins", "--static-dir", "--htmx-dir":
                c.workerOptions += [arg, try value(arg)]
            case "--access-token-file":
                let path = try value(arg)
                c.accessToken = try Self.readToken(path, flag: arg)
            default: throw .usage("unknown option '\(arg)'")
            }
        }
        // One limit, enforced at the door and again by the worker that reads the head.
        c.workerOptions += ["--max-head-bytes", String(c.maxHeadBytes)]
        if c.role == .follower && c.demo {
            throw .usage("--demo writes; a follower's database is a read-only replica (run the demo on the primary)")
        }
        if c.role != .standalone { c.workerOptions += ["--role", c.role.rawValue] }
        if let primary = c.primaryURL { c.workerOptions += ["--primary-url", primary] }
        if let replica = c.replicaURL {
            guard c.role == .follower else { throw .usage("--replica-url is a follower's (--role follower)") }
            guard let vfs = c.litestreamVFS else {
                throw .usage("--replica-url needs --litestream-vfs PATH (litestream-vfs.so, from PyPI's litestream-vfs)")
            }
            guard FileManager.default.isReadableFile(atPath: vfs) else { throw .usage("--litestream-vfs: cannot read \(vfs)") }
            c.workerOptions += ["--replica-url", replica, "--litestream-vfs", vfs]
        }
        if c.databasePath.isEmpty {
            if let state = environment["STATE_DIRECTORY"]?.split(separator: ":").first {
                c.databasePath = "\(state)/livefeed.db"
            } else {
                c.databasePath = "state/livefeed.db"
            }
        }
        if c.accessToken == nil, let token = environment["LIVEFEED_ACCESS_TOKEN"], !token.isEmpty {
            c.accessToken = token
        }
        // systemd's LoadCredential=token:/etc/livefeed/token (readable by root only; the service's dynamic user
        // reads the copy systemd makes for it).
        if c.accessToken == nil, let credentials = environment["CREDENTIALS_DIRECTORY"],
            FileManager.default.fileExists(atPath: "\(credentials)/token")
        {
            c.accessToken = try Self.readToken("\(credentials)/token", flag: "credential token")
        }
        if c.workerPath.isEmpty {
            c.workerPath = Self.executableDirectory() + "/livefeed-worker"
        }
        return c
    }

    static let maxCap = 1_000_000

    /// Parses `VIEW=N[,VIEW=N…]` for live views.
    static func parseViewCaps(
        _ raw: String, into caps: inout [ConnectionView: Int], source: String
    ) throws(ParseError) {
        let live = ConnectionView.allCases.filter(\.isLive).map(\.rawValue).joined(separator: ", ")
        for item in raw.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1).map { String($0.filter { !$0.isWhitespace }) }
            guard parts.count == 2, let view = ConnectionView(rawValue: parts[0]), view.isLive else {
                throw .usage("\(source) takes VIEW=N with VIEW one of \(live), not '\(item)'")
            }
            guard let n = Int(parts[1]), (0...maxCap).contains(n) else {
                throw .usage("\(source): the cap for \(view.rawValue) must be an integer from 0 (live off: pages poll) to \(maxCap)")
            }
            caps[view] = n
        }
    }

    static func executableDirectory() -> String { ChildProcess.executableDirectory() }
}
