import Glibc

/// Reads files under /proc, which report size 0 and are produced a page at a time: Foundation's file readers
/// stop after the first read (about 4 KiB), so /proc/net/tcp with many sockets would be cut short.
enum ProcFile {
    /// The whole file, read until EOF; nil if it cannot be opened (e.g. the process is gone).
    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                contents += chunk[0..<count]
            } else if count == 0 {
                return contents
            } else if errno != EINTR {
                return nil
            }
        }
    }

    static func readText(_ path: String) -> String? {
        read(path).map { String(decoding: $0, as: UTF8.self) }
    }
}

extension ProcFile {
    /// A process's resident set size in bytes (VmRSS in /proc/PID/status); nil if the process is gone.
    static func residentBytes(of pid: pid_t) -> Int? {
        guard let status = readText("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let kib = Int(fields[1]), fields[2] == "kB" else { return nil }
            return kib * 1024
        }
        return nil
    }
}
