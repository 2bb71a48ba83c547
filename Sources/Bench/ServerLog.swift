import Foundation
import Glibc
import LivefeedProtocol

/// Follows the server's stderr log file (one JSON object per line) and keeps what the bench needs: the
/// `ready` address, worker pids from `worker_started` (the checkpointer's from `checkpointer_started`), and counts
/// of events, levels and close reasons.
/// Owns a read descriptor on the file. A file, unlike a pipe, never makes the server block on its logging.
final class ServerLog {
    private let fd: Int32
    private var partial: [UInt8] = []
    private(set) var address: SocketAddress?
    /// Worker index → pid, latest first start wins; `workerStarts` counts every start (restarts included).
    private(set) var workerPIDs: [Int: pid_t] = [:]
    private(set) var workerStarts = 0
    /// The WAL checkpointer's pid (`checkpointer_started`): its CPU is the server's too.
    private(set) var checkpointerPID: pid_t?
    private(set) var events: [String: Int] = [:]
    private(set) var levels: [String: Int] = [:]
    /// `reason` of every `connection_closed` and `connection_refused` line.
    private(set) var reasons: [String: Int] = [:]
    /// The first few error and warning lines, verbatim.
    private(set) var notable: [String] = []
    /// For a reload measured by `--reload-at`: the first and last time (the line's `ts`, Unix ms) of these events.
    static let timedEvents: Set<String> = [
        "reload_started", "reload_complete", "connection_moved", "connection_move_failed", "upgrade_restored",
    ]
    private(set) var firstAt: [String: Int64] = [:]
    private(set) var lastAt: [String: Int64] = [:]
    /// Where the load landed: live connections opened per worker, and the worker of the HTTP connection that made
    /// the most requests (the bench's publisher, read from its `connection_closed`). With two workers the
    /// publisher shares the channel's worker in about a quarter of the runs, and latency at 1k x 100 differs by
    /// about 2x between the two placements, so a figure means little without it.
    private(set) var liveOpenedByWorker: [Int: Int] = [:]
    private(set) var busiestHTTP: (worker: Int, requests: Int)?

    init(path: String) throws(BenchError) {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_CREAT, 0o644)
        guard fd >= 0 else { throw .setup("cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// Reads whatever the server appended since the last call (at most 16 MiB per call).
    func poll() {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        for _ in 0..<256 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            var start = 0
            for i in 0..<n where chunk[i] == UInt8(ascii: "\n") {
                partial.append(contentsOf: chunk[start..<i])
                take(String(decoding: partial, as: UTF8.self))
                partial.removeAll(keepingCapacity: true)
                start = i + 1
            }
            partial.append(contentsOf: chunk[start..<n])
        }
    }

    private func take(_ line: String) {
        guard let event = Self.stringField(line, "event") else { return }
        events[event, default: 0] += 1
        let level = Self.stringField(line, "level") ?? "?"
        levels[level, default: 0] += 1
        if (level == "error" || level == "warning") && notable.count < 10 { notable.append(line) }
        if Self.timedEvents.contains(event), let ts = Self.stringField(line, "ts"), let ms = Timestamp.parse(ts) {
            if firstAt[event] == nil { firstAt[event] = ms }
            lastAt[event] = ms
        }
        switch event {
        case "ready":
            if let a = Self.stringField(line, "address") { address = SocketAddress(parsing: a) }
        case "worker_started":
            if let index = Self.intField(line, "worker"), let pid = Self.intField(line, "pid") {
                workerPIDs[index] = pid_t(pid)
                workerStarts += 1
            }
        case "checkpointer_started":
            if let pid = Self.intField(line, "pid") { checkpointerPID = pid_t(pid) }
        case "connection_opened":
            if Self.stringField(line, "view") != "http", let worker = Self.intField(line, "worker") {
                liveOpenedByWorker[worker, default: 0] += 1
            }
        case "connection_closed", "connection_refused":
            reasons[Self.stringField(line, "reason") ?? "?", default: 0] += 1
            if event == "connection_closed", Self.stringField(line, "view") == "http",
                let worker = Self.intField(line, "worker"), let requests = Self.intField(line, "requests"),
                requests > (busiestHTTP?.requests ?? 0)
            {
                busiestHTTP = (worker, requests)
            }
        default:
            break
        }
    }

    /// The value of `"name":"…"` in a log line (no unescaping: the fields read here are plain).
    static func stringField(_ line: String, _ name: String) -> String? {
        guard let r = line.range(of: "\"\(name)\":\"") else { return nil }
        let rest = line[r.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    static func intField(_ line: String, _ name: String) -> Int? {
        guard let r = line.range(of: "\"\(name)\":") else { return nil }
        let digits = line[r.upperBound...].prefix { $0 == "-" || $0.isNumber }
        return Int(digits)
    }
}
