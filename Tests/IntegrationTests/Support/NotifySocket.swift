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
        /// Descriptors it carried (SCM_RIGHTS), now the test's; a barrier's are closed on arrival.
        var fds: [Int32] = []

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

    /// Closes every descriptor the datagrams carried (what a store held goes away, as on a stop).
    func closeDescriptors() {
        for i in received.indices {
            received[i].fds.forEach { Glibc.close($0) }
            received[i].fds = []
        }
    }

    func close() {
        closeDescriptors()
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

    /// SCM_RIGHTS (socket(7)).
    static let scmRights: Int32 = 1

    /// recvmsg(2) with room for SCM_CREDENTIALS and up to 253 descriptors (`FDSTORE=1`, `BARRIER=1`). As systemd
    /// does, a barrier's descriptor is closed at once (that is the acknowledgement); stored ones are kept in the
    /// message, owned by the test.
    private func readDatagram() throws -> Message {
        var data = [UInt8](repeating: 0, count: 4096)
        let headerSize = MemoryLayout<cmsghdr>.size
        var control = [UInt8](repeating: 0, count: (headerSize + 16) + (headerSize + 4 * 253 + 8))
        let (count, controlLength) = data.withUnsafeMutableBytes { dataRaw in
            control.withUnsafeMutableBytes { controlRaw in
                var vector = iovec(iov_base: dataRaw.baseAddress, iov_len: dataRaw.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var header = msghdr()
                    header.msg_iov = vectorPointer
                    header.msg_iovlen = 1
                    header.msg_control = controlRaw.baseAddress
                    header.msg_controllen = controlRaw.count
                    let n = recvmsg(fd, &header, Int32(MSG_CMSG_CLOEXEC))
                    return (n, Int(header.msg_controllen))
                }
            }
        }
        guard count >= 0 else { throw SocketError.system(call: "recvmsg", errno: errno) }
        var pid: pid_t?
        var fds: [Int32] = []
        var at = 0
        while at + headerSize <= controlLength {
            let (length, level, type) = control.withUnsafeBytes { raw in
                let header = raw.load(fromByteOffset: at, as: cmsghdr.self)
                return (Int(header.cmsg_len), header.cmsg_level, header.cmsg_type)
            }
            guard length >= headerSize else { break }
            if level == SOL_SOCKET && type == Self.scmCredentials && length >= headerSize + 12 {
                pid = control.withUnsafeBytes { $0.load(fromByteOffset: at + headerSize, as: pid_t.self) }
            } else if level == SOL_SOCKET && type == Self.scmRights {
                for k in 0..<((length - headerSize) / 4) {
                    fds.append(control.withUnsafeBytes { $0.load(fromByteOffset: at + headerSize + 4 * k, as: Int32.self) })
                }
            }
            at += (length + 7) & ~7
        }
        let text = String(decoding: data[0..<count], as: UTF8.self)
        let assignments = text.split(separator: "\n").map { line -> (key: String, value: String) in
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        var message = Message(pid: pid, assignments: assignments, receivedAt: .now, fds: fds)
        if message.has("BARRIER", "1") {
            fds.forEach { Glibc.close($0) }
            message.fds = []
        }
        received.append(message)
        return message
    }
}
