import CLinux
import Glibc

/// Starting and reaping child processes.
package enum ChildProcess {
    /// posix_spawn(3) of `path` with `arguments`, the current environment without the variables named in
    /// `withoutEnvironment` plus `extraEnvironment`, and `control` placed at descriptor `controlTarget` in the
    /// child (every other descriptor is close-on-exec).
    /// With `stderr`, the child's standard error is that descriptor (the write end of a pipe the caller reads).
    package static func spawn(
        path: String, arguments: [String], control: FileDescriptor, controlTarget: Int32 = 3,
        extraEnvironment: [String] = [], withoutEnvironment: Set<String> = [], stderr: FileDescriptor? = nil
    ) throws(SystemError) -> pid_t {
        // dup2 onto itself would keep FD_CLOEXEC set, so make sure the source differs from the target.
        var source = control
        var temporary: FileDescriptor?
        if control.rawValue == controlTarget {
            temporary = try control.duplicate(atLeast: controlTarget + 1)
            source = temporary!
        }
        defer { temporary?.close() }
        var environment: [String] = []
        var index = 0
        while let entry = environ[index] {
            environment.append(String(cString: entry))
            index += 1
        }
        // An extra entry replaces an inherited one of the same name (getenv would find the first).
        let overridden = Set(extraEnvironment.compactMap { $0.split(separator: "=", maxSplits: 1).first.map(String.init) })
            .union(withoutEnvironment)
        environment.removeAll { entry in overridden.contains(where: { entry.hasPrefix($0 + "=") }) }
        environment += extraEnvironment
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = lf_spawn(&pid, path, source.rawValue, controlTarget, stderr?.rawValue ?? -1, argv, envp)
        if rc != 0 { throw SystemError("posix_spawn", errno: rc) }
        return pid
    }

    package enum Exit: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        package var description: String {
            switch self {
            // The shell's convention, and what the dynamic loader does when a library is missing.
            case .exited(127): "exit status 127 (could not run: a missing shared library or program)"
            case .exited(126): "exit status 126 (could not run: not executable)"
            case .exited(let code): "exit status \(code)"
            case .signaled(let sig): "killed by signal \(sig)"
            }
        }

        /// A reason word for records: `exec_failed` when the program never ran (127, 126).
        package var reason: String {
            switch self {
            case .exited(126), .exited(127): "exec_failed"
            case .exited(0): "exited"
            case .exited: "failed"
            case .signaled: "killed"
            }
        }
    }

    /// waitpid(-1, WNOHANG) until no more children have changed state.
    /// The directory of the running executable (readlink /proc/self/exe): where its sibling binaries live.
    package static func executableDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "." }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    /// Runs a program to completion (posix_spawn + waitpid), with no control descriptor. Returns how it ended and
    /// the last `keepStderrBytes` bytes it wrote to standard error (read while it runs, so it never blocks on a
    /// full pipe).
    package static func run(
        path: String, arguments: [String], keepStderrBytes: Int = 4096
    ) throws(SystemError) -> (exit: Exit, stderr: String) {
        let (reader, writer) = try pipe()
        defer { reader.close() }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = lf_spawn(&pid, path, -1, -1, writer.rawValue, argv, environ)
        writer.close()
        if rc != 0 { throw SystemError("posix_spawn", errno: rc) }
        var tail: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(reader.rawValue, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            tail += chunk[0..<n]
            if tail.count > keepStderrBytes { tail.removeFirst(tail.count - keepStderrBytes) }
        }
        var status: Int32 = 0
        _ = try checked("waitpid") { waitpid(pid, &status, 0) }
        return (decode(status), String(decoding: tail, as: UTF8.self))
    }

    /// pipe2(2) with O_CLOEXEC: (read end, write end).
    package static func pipe() throws(SystemError) -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        _ = try checked("pipe2") { lf_pipe2(&fds, O_CLOEXEC) }
        return (FileDescriptor(owning: fds[0]), FileDescriptor(owning: fds[1]))
    }

    private static func decode(_ status: Int32) -> Exit {
        let low = status & 0x7f
        return low == 0 ? .exited((status >> 8) & 0xff) : .signaled(low)
    }

    package static func reapAll() -> [(pid_t, Exit)] {
        var result: [(pid_t, Exit)] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return result }
            let low = status & 0x7f
            if low == 0 {
                result.append((pid, .exited((status >> 8) & 0xff)))
            } else if low != 0x7f {
                result.append((pid, .signaled(low)))
            }
        }
    }
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC); pass it in, never read it deep inside logic.
package struct MonotonicClock: Sendable {
    package init() {}
    package var nowNanoseconds: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
    package var nowMilliseconds: UInt64 { nowNanoseconds / 1_000_000 }
}
