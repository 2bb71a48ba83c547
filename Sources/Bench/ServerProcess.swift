import Glibc
import LivefeedProtocol

/// The server under test: a `livefeed` supervisor started by the bench, with stdout and stderr going to a log
/// file. Owns the child until `stop`, which always leaves it (and its workers) dead and reaped.
final class ServerProcess {
    let pid: pid_t
    let log: ServerLog
    private(set) var exit: ChildProcess.Exit?

    /// posix_spawn(3)s `executable`. Through setpriv(1) when present, so the kernel kills the server with
    /// SIGKILL (PR_SET_PDEATHSIG) should the bench itself die without running its cleanup.
    init(executable: String, arguments: [String], logPath: String) throws(BenchError) {
        var program = executable
        var argv = [executable] + arguments
        let setpriv = "/usr/bin/setpriv"
        if access(setpriv, X_OK) == 0 {
            program = setpriv
            argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv
        }
        log = try ServerLog(path: logPath)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The bench blocks SIGINT and SIGTERM for its signalfd; the server must start with nothing blocked.
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // Its own process group: a Ctrl-C (or timeout(1)) signals the bench's group, and the bench then stops
        // the server in order instead of the server's processes dying one by one.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, program, &actions, &attributes, cArgs, environ)
        guard rc == 0 else { throw .setup("posix_spawn \(program): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Reaps the supervisor if it has exited; true while it runs.
    func isRunning() -> Bool {
        if exit != nil { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            exit = Self.decode(status)
            return false
        }
        return r == 0
    }

    /// Follows the log until the `ready` line, the supervisor's exit, a signal for the bench, or `deadline`.
    func waitUntilReady(deadline: UInt64, clock: MonotonicClock, interrupted: () -> Bool) throws(BenchError)
        -> SocketAddress
    {
        while clock.nowNanoseconds < deadline {
            log.poll()
            if let a = log.address { return a }
            if !isRunning() { throw .server("exited before ready (\(exit.map { "\($0)" } ?? "unknown"))") }
            if interrupted() { throw .interrupted }
            usleep(10_000)
        }
        throw .server("no ready line within the deadline")
    }

    /// SIGTERM, then SIGKILL after `graceSeconds`; then SIGKILL to any worker still alive. Idempotent.
    @discardableResult
    func stop(graceSeconds: Double, clock: MonotonicClock) -> ChildProcess.Exit? {
        if isRunning() {
            kill(pid, SIGTERM)
            let deadline = clock.nowNanoseconds + UInt64(graceSeconds * 1e9)
            while isRunning() && clock.nowNanoseconds < deadline { usleep(10_000) }
            if isRunning() {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                if waitpid(pid, &status, 0) == pid { exit = Self.decode(status) }
            }
        }
        log.poll()
        // Workers exit on their own when the supervisor's end of their socket closes; make sure of it.
        // Checked by name first: a reaped worker's pid could in principle belong to someone else by now.
        for workerPID in Array(log.workerPIDs.values) + (log.checkpointerPID.map { [$0] } ?? []) where kill(workerPID, 0) == 0 {
            if ProcFile.read("/proc/\(workerPID)/cmdline")?.contains("livefeed-worker") == true {
                kill(workerPID, SIGKILL)
            }
        }
        return exit
    }

    private static func decode(_ status: Int32) -> ChildProcess.Exit {
        let low = status & 0x7f
        return low == 0 ? .exited((status >> 8) & 0xff) : .signaled(low)
    }
}
