import Foundation
import Glibc

/// A test-owned sd_notify(3) socket, as systemd binds for a Type=notify service: AF_UNIX SOCK_DGRAM in a temp
/// directory with SO_PASSCRED on, so every datagram arrives with its sender's pid. Give `path` to the server as
/// NOTIFY_SOCKET. Owns the socket (close-on-exec, so no server inherits it) and its directory.
final class NotifySocket {
    /// One datagram: its sender and its `KEY=value` assignments, in order.
    struct Message: CustomStringConvertible {
        var pid: pid_t?
        var assignments: [(key: String, value: String)]
        var receivedAt: ContinuousClock.Instant

        func value(_ key: String) -> String? { assignments.first { $0.key == key }?.value }
        func has(_ key: String, _ value: String) -> Bool { assignments.contains { $0.key == key && $0.value == value } }
        var description: String {
            "[pid \(pid.map(String.init) ?? "?")] "
                + assignments.map { "\($0.key)=\($0.value)" }.joined(separator: " | ")
        }
    }

    /// SCM_CREDENTIALS (socket(7)); Glibc's Swift module does not export it.
    static let scmCredentials: Int32 = 2

    let path: String
    private let directory: String
    private var fd: Int32
    /// Every datagram received so far, oldest first.
    private(set) var received: [Message] = []

    init() throws {
        directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-notify-")
        path = "\(directory)/notify"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system(call: "socket", errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SubprocessError(description: "notify socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        var on: Int32 = 1
        guard bound == 0, setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let code = errno
            close()
            throw SocketError.system(call: "bind/setsockopt", errno: code)
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Receives what arrives within `timeout` (at least one poll, even with a zero timeout) and returns it.
    @discardableResult
    func collect(for timeout: Duration) throws -> [Message] {
        let deadline = ContinuousClock.now + timeout
        var new: [Message] = []
        while true {
            if let message = try receive(until: deadline) {
                new.append(message)
            } else {
                return new
            }
        }
    }

    /// Waits for a message that satisfies `predicate` and returns it; earlier ones stay in `received`.
    @discardableResult
    func wait(
        for what: String, timeout: Duration = .seconds(15), where predicate: (Message) -> Bool
    ) throws -> Message {
        let deadline = ContinuousClock.now + timeout
        while let message = try receive(until: deadline) {
            if predicate(message) { return message }
        }
        throw TimedOut(
            description: "no notification \(what) within \(timeout); received:\n"
                + received.suffix(20).map(\.description).joined(separator: "\n"))
    }

    /// One datagram, or nil once `deadline` passes.
    private func receive(until deadline: ContinuousClock.Instant) throws -> Message? {
        while true {
            let left = deadline - ContinuousClock.now
            let milliseconds = max(
                0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            return try readDatagram()
        }
    }

    /// recvmsg(2) with room for one SCM_CREDENTIALS control message.
    private func readDatagram() throws -> Message {
        var data = [UInt8](repeating: 0, count: 4096)
        // cmsghdr, then struct ucred { pid_t pid; uid_t uid; gid_t gid; }, padded to 8 bytes.
        let headerSize = MemoryLayout<cmsghdr>.size
        var control = [UInt8](repeating: 0, count: headerSize + 16)
        let count = data.withUnsafeMutableBytes { dataRaw in
            control.withUnsafeMutableBytes { controlRaw in
                var vector = iovec(iov_base: dataRaw.baseAddress, iov_len: dataRaw.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var header = msghdr()
                    header.msg_iov = vectorPointer
                    header.msg_iovlen = 1
                    header.msg_control = controlRaw.baseAddress
                    header.msg_controllen = controlRaw.count
                    return recvmsg(fd, &header, 0)
                }
            }
        }
        guard count >= 0 else { throw SocketError.system(call: "recvmsg", errno: errno) }
        var pid: pid_t?
        let (length, level, type) = control.withUnsafeBytes { raw in
            let header = raw.load(as: cmsghdr.self)
            return (Int(header.cmsg_len), header.cmsg_level, header.cmsg_type)
        }
        if length >= headerSize + 12 && level == SOL_SOCKET && type == Self.scmCredentials {
            pid = control.withUnsafeBytes { $0.load(fromByteOffset: headerSize, as: pid_t.self) }
        }
        let text = String(decoding: data[0..<count], as: UTF8.self)
        let assignments = text.split(separator: "\n").map { line -> (key: String, value: String) in
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        let message = Message(pid: pid, assignments: assignments, receivedAt: .now)
        received.append(message)
        return message
    }
}
