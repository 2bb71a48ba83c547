import Glibc
import LivefeedProtocol

/// `--reload-at`: the reload as the server logged it (connections moved or not, how long moving took from the
/// SIGHUP to the last `connection_moved`) and as the subscribers lived it: closes and status frames are counted
/// with the others (and fail the run), and messages posted while connections moved are compared with those
/// posted before by how long each took to reach every subscriber.
extension BenchRun {
    struct ReloadFigures {
        var moved = 0
        var failed = 0
        var movingMilliseconds: Int64 = 0
        /// From the SIGHUP to `reload_complete` (the new workers serve; moving starts then).
        var readyMilliseconds: Int64 = 0
        /// `--reload-command`'s wait status, when it ran one.
        var commandStatus: Int32?
        var during = LatencyHistogram()
        var before = LatencyHistogram()
    }

    func reloadFigures(_ r: Receipts) -> ReloadFigures? {
        guard let sent = reloadSentAt else { return nil }
        guard let log = server?.log else {
            // A server the bench did not start (--attach): the command's run is the reload's span.
            guard let done = reloadCommandDone else { return nil }
            var f = ReloadFigures()
            f.commandStatus = done.status
            f.readyMilliseconds = Int64((done.monotonic - sent.monotonic) / 1_000_000)
            f.movingMilliseconds = f.readyMilliseconds
            f.during = r.completion(sentFrom: sent.monotonic, to: max(done.monotonic, sent.monotonic + 1_000_000))
            f.before = r.completion(sentFrom: ingestStart, to: sent.monotonic)
            return f
        }
        log.poll()
        var f = ReloadFigures()
        f.moved = log.events["connection_moved"] ?? 0
        f.failed = log.events["connection_move_failed"] ?? 0
        let lastMove = max(log.lastAt["connection_moved"] ?? 0, log.lastAt["connection_move_failed"] ?? 0)
        f.movingMilliseconds = lastMove > 0 ? max(0, lastMove - sent.unixMilliseconds) : 0
        // A reload's new workers serve at reload_complete; an upgrade's new process at upgrade_restored.
        if let complete = log.firstAt["reload_complete"] ?? log.firstAt["upgrade_restored"] {
            f.readyMilliseconds = max(0, complete - sent.unixMilliseconds)
        }
        let movingEnd = sent.monotonic + UInt64(max(f.movingMilliseconds, 1)) * 1_000_000
        f.during = r.completion(sentFrom: sent.monotonic, to: movingEnd)
        f.before = r.completion(sentFrom: ingestStart, to: sent.monotonic)
        return f
    }
}

extension BenchRun {
    /// `/bin/sh -c command`, with the signals the bench blocks for its signalfd unblocked; output goes where the
    /// bench's goes.
    static func spawnShell(_ command: String) throws(BenchError) -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let words: [String] = ["/bin/sh", "-c", command]
        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, "/bin/sh", nil, &attributes, argv, environ)
        guard rc == 0 else { throw .setup("posix_spawn /bin/sh -c \(command): \(String(cString: strerror(rc)))") }
        return child
    }
}
