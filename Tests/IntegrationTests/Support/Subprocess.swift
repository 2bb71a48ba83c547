import Foundation
import Glibc

/// Why a child process could not be run as asked.
struct SubprocessError: Error, CustomStringConvertible {
    var description: String
}

/// Spawns the programs the tests need (the server, sqlite3) with posix_spawn(3), and waits for them.
///
/// Children get stdin from a file (default /dev/null), stdout and stderr into files, default dispositions for the
/// usual signals, an empty signal mask, and no other descriptor of the test process (Swift Testing runs tests in
/// parallel; a server must never inherit another test's sockets). Foundation.Process is avoided on purpose: its
/// SIGCHLD machinery and ours would both call waitpid.
enum Subprocess {
    /// Spawns `executable` and returns its pid. With `newProcessGroup` the child leads a new process group
    /// (pgid == pid), so teardown can signal it and whatever it left behind in the group.
    static func spawn(
        executable: String, arguments: [String], environment: [String: String], stdinPath: String = "/dev/null",
        stdoutPath: String, stderrPath: String, newProcessGroup: Bool
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        try closeInheritedDescriptors(&actions)
        let outputFlags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND
        for (fd, path, flags) in [(0, stdinPath, O_RDONLY), (1, stdoutPath, outputFlags), (2, stderrPath, outputFlags)]
        {
            let result = posix_spawn_file_actions_addopen(&actions, Int32(fd), path, flags, 0o644)
            guard result == 0 else { throw SubprocessError(description: "addopen \(path): errno \(result)") }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaulted = sigset_t()
        sigemptyset(&defaulted)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaulted, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaulted)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw SubprocessError(description: "posix_spawn \(executable): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// The exit status if `pid` (our child) has ended, else nil; reaps it. waitpid(2) with WNOHANG.
    static func exitStatusIfEnded(_ pid: pid_t) -> ExitStatus? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return ExitStatus(waitStatus: status) }
            if result == -1 && errno == EINTR { continue }
            return nil
        }
    }

    /// Polls until `pid` (our child) ends or `timeout` passes.
    static func waitForExit(_ pid: pid_t, timeout: Duration) -> ExitStatus? {
        let deadline = ContinuousClock.now + timeout
        repeat {
            if let status = exitStatusIfEnded(pid) { return status }
            usleep(10_000)
        } while ContinuousClock.now < deadline
        return exitStatusIfEnded(pid)
    }

    /// Runs a short-lived program to completion with `stdin` as its input; kills it after `timeout`.
    static func run(_ executable: String, _ arguments: [String], stdin: String = "", timeout: Duration = .seconds(30))
        throws -> (status: ExitStatus, stdout: String, stderr: String)
    {
        let directory = try makeTemporaryDirectory(prefix: "livefeed-run-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (inPath, outPath, errPath) = ("\(directory)/stdin", "\(directory)/stdout", "\(directory)/stderr")
        try Data(stdin.utf8).write(to: URL(fileURLWithPath: inPath))
        let pid = try spawn(
            executable: executable, arguments: arguments, environment: ProcessInfo.processInfo.environment,
            stdinPath: inPath, stdoutPath: outPath, stderrPath: errPath, newProcessGroup: false)
        guard let status = waitForExit(pid, timeout: timeout) else {
            kill(pid, SIGKILL)
            _ = waitForExit(pid, timeout: .seconds(5))
            throw SubprocessError(description: "\(executable) \(arguments) did not finish within \(timeout)")
        }
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return (status, read(outPath), read(errPath))
    }

    /// The first executable file called `name` on $PATH.
    static func findExecutable(named name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    /// True if `pid` exists and is not a zombie (a zombie nobody reaps, e.g. an orphan in a container, counts as gone).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        return processState(pid).map { $0 != "Z" && $0 != "X" } ?? false
    }

    /// The state letter from /proc/PID/stat (R, S, Z, ...).
    static func processState(_ pid: pid_t) -> Character? {
        guard let stat = ProcFile.readText("/proc/\(pid)/stat"),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].first { $0 != " " }
    }

    /// The NUL-separated command line of `pid`, joined with spaces.
    static func commandLine(_ pid: pid_t) -> String {
        guard let data = ProcFile.read("/proc/\(pid)/cmdline") else { return "" }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    /// mkdtemp(3) under $TMPDIR (or /tmp).
    static func makeTemporaryDirectory(prefix: String) throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/\(prefix)XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw SubprocessError(description: "mkdtemp in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    /// Adds "close every descriptor from 3 up" to `actions`: posix_spawn_file_actions_addclosefrom_np (glibc 2.34,
    /// looked up with dlsym because Swift's Glibc module does not declare it), else one close per open descriptor.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
            let result = addCloseFrom(&actions, 3)
            guard result == 0 else { throw SubprocessError(description: "addclosefrom_np: errno \(result)") }
            return
        }
        // glibc ignores a failing close action for a descriptor that is no longer open.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ Int32($0) }) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }
}
