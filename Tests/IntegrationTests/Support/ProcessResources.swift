import Foundation
import Glibc

/// Reads and changes another process's resources, for tests that starve the server of descriptors or watch its
/// CPU time.
enum ProcessResources {
    /// Open descriptors of `pid`, from /proc/PID/fd.
    static func openDescriptorCount(_ pid: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    /// User plus system CPU time of `pid` in clock ticks (fields 14 and 15 of /proc/PID/stat, proc(5)).
    static func cpuTicks(_ pid: pid_t) -> Int? {
        guard let stat = ProcFile.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        // After the command name: field 3 (state) is the first; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }

    /// prlimit(2) on RLIMIT_NOFILE of `pid`: sets the soft limit (the hard one stays), returns the previous soft
    /// limit. Looked up with dlsym because Swift's Glibc module does not declare prlimit.
    static func setDescriptorSoftLimit(_ pid: pid_t, _ soft: UInt64) throws -> UInt64 {
        typealias Prlimit =
            @convention(c) (pid_t, Int32, UnsafePointer<rlimit>?, UnsafeMutablePointer<rlimit>?) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prlimit") else {
            throw SubprocessError(description: "prlimit not found")
        }
        let call = unsafeBitCast(symbol, to: Prlimit.self)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        var old = rlimit()
        guard call(pid, resource, nil, &old) == 0 else {
            throw SubprocessError(description: "prlimit read: \(String(cString: strerror(errno)))")
        }
        var new = old
        new.rlim_cur = rlim_t(soft)
        guard call(pid, resource, &new, nil) == 0 else {
            throw SubprocessError(description: "prlimit set: \(String(cString: strerror(errno)))")
        }
        return UInt64(old.rlim_cur)
    }
}
