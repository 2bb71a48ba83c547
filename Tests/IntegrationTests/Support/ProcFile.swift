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
