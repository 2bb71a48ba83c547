import Glibc

/// One reading of a process's counters from /proc (proc(5)): CPU time from `stat`, memory from `status`,
/// read/write system call counts from `io`.
struct ProcessSample {
    var pid: pid_t
    /// utime and stime, in seconds (clock-tick resolution, usually 10 ms).
    var userSeconds = 0.0
    var systemSeconds = 0.0
    /// VmRSS and VmHWM (peak RSS), in KiB.
    var rssKiB = 0
    var peakRSSKiB = 0
    /// `syscr` / `syscw`: calls through the VFS read and write paths (read, readv, pread; write, writev, pwrite —
    /// SQLite's file writes included, socket send/sendmsg not).
    var readCalls = 0
    var writeCalls = 0

    var cpuSeconds: Double { userSeconds + systemSeconds }

    /// Nil when the process is gone or /proc is unreadable.
    static func read(pid: pid_t) -> ProcessSample? {
        guard let stat = ProcFile.read("/proc/\(pid)/stat"), let status = ProcFile.read("/proc/\(pid)/status") else {
            return nil
        }
        var s = ProcessSample(pid: pid)
        // The command name (field 2) is in parentheses and may hold spaces; count fields after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); utime is field 14, stime field 15.
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        s.userSeconds = utime / ticks
        s.systemSeconds = stime / ticks
        for line in status.split(separator: "\n") {
            if line.hasPrefix("VmRSS:") {
                s.rssKiB = Self.kibValue(line)
            } else if line.hasPrefix("VmHWM:") {
                s.peakRSSKiB = Self.kibValue(line)
            }
        }
        if let io = ProcFile.read("/proc/\(pid)/io") {
            for line in io.split(separator: "\n") {
                if line.hasPrefix("syscr:") {
                    s.readCalls = Int(line.dropFirst(6).trimmingSpaces) ?? 0
                } else if line.hasPrefix("syscw:") {
                    s.writeCalls = Int(line.dropFirst(6).trimmingSpaces) ?? 0
                }
            }
        }
        return s
    }

    private static func kibValue(_ line: Substring) -> Int {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        return parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
    }
}

/// Whole-host CPU time from the first line of /proc/stat, to see how much of the machine other programs took
/// while the bench ran (on a shared host they distort every latency figure).
enum HostCPU {
    /// Busy and total seconds summed over all CPUs since boot (busy = everything but idle and iowait).
    static func seconds() -> (busy: Double, total: Double)? {
        guard let text = ProcFile.read("/proc/stat"), let line = text.split(separator: "\n").first,
            line.hasPrefix("cpu ")
        else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard values.count >= 5 else { return nil }
        // user nice system idle iowait irq softirq steal (guest time is already inside user).
        let total = values.prefix(8).reduce(0, +)
        let idle = values[3] + values[4]
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ((total - idle) / ticks, total / ticks)
    }
}

/// Kernel TCP memory from /proc/net/sockstat, for every socket on the host (client and server ends alike).
enum SocketMemory {
    /// The `mem` figure of the `TCP:` line, converted from pages to KiB.
    static func tcpKiB() -> Int? {
        guard let text = ProcFile.read("/proc/net/sockstat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("TCP:") {
            let parts = line.split(separator: " ")
            if let i = parts.firstIndex(of: "mem"), i + 1 < parts.count, let pages = Int(parts[i + 1]) {
                return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
            }
        }
        return nil
    }
}

/// Small whole-file reads of /proc and of the server log.
enum ProcFile {
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        // /proc files here are a few KiB; the bound only guards against a surprise.
        for _ in 0..<256 {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s = s.dropLast() }
        return s
    }
}
