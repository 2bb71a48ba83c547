import Foundation
import Glibc

/// Finds which processes hold the server side of a TCP connection on 127.0.0.1, from /proc (proc(5)).
///
/// The supervisor hands accepted connections to workers with SCM_RIGHTS and must then close its copy, so the
/// server side of a served connection should be held by exactly one worker.
enum ProcessOwnership {
    /// One row of /proc/net/tcp or /proc/net/tcp6.
    struct SocketRow: Equatable {
        var localPort: UInt16
        var remotePort: UInt16
        /// Hex state, "01" = ESTABLISHED.
        var state: String
        var inode: UInt64
    }

    /// Parses one data line of /proc/net/tcp: `sl local_address rem_address st ... uid timeout inode`, addresses as
    /// `HEXIP:HEXPORT` (the IP in the kernel's byte order, the port as a plain hex number).
    static func parseRow(_ line: Substring) -> SocketRow? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 10, fields[0].hasSuffix(":"),
            let local = fields[1].split(separator: ":").last.flatMap({ UInt16($0, radix: 16) }),
            let remote = fields[2].split(separator: ":").last.flatMap({ UInt16($0, radix: 16) }),
            let inode = UInt64(fields[9])
        else { return nil }
        return SocketRow(localPort: local, remotePort: remote, state: String(fields[3]), inode: inode)
    }

    /// The inode of the established socket whose local port is `serverPort` and remote port is `clientPort`.
    static func serverSocketInode(serverPort: UInt16, clientPort: UInt16) -> UInt64? {
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = ProcFile.readText(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                guard let row = parseRow(line) else { continue }
                if row.localPort == serverPort && row.remotePort == clientPort && row.state == "01" && row.inode != 0 {
                    return row.inode
                }
            }
        }
        return nil
    }

    /// The pids among `candidates` with a descriptor that is `socket:[inode]`.
    static func holders(ofSocketInode inode: UInt64, among candidates: [pid_t]) -> [pid_t] {
        let target = "socket:[\(inode)]"
        return candidates.filter { pid in
            let directory = "/proc/\(pid)/fd"
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
            return fds.contains { readLink("\(directory)/\($0)") == target }
        }
    }

    /// The pids among `candidates` holding the server side of the connection from `clientPort` to `serverPort`.
    /// Empty if the connection is not (or no longer) established.
    static func holdersOfServerSide(serverPort: UInt16, clientPort: UInt16, among candidates: [pid_t]) -> [pid_t] {
        guard let inode = serverSocketInode(serverPort: serverPort, clientPort: clientPort) else { return [] }
        return holders(ofSocketInode: inode, among: candidates)
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let length = readlink(path, &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
