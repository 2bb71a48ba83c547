import Glibc
import LivefeedProtocol

/// Client-side TCP sockets towards the server: non-blocking connects from a chosen loopback source address,
/// and small blocking request/response exchanges for setup.
enum ClientSocket {
    /// IP_BIND_ADDRESS_NO_PORT (linux/in.h): bind() picks the address only; the port is chosen at connect()
    /// time per destination, so one source address is not limited to one ephemeral range for all servers.
    private static let bindAddressNoPort: Int32 = 24

    enum Connect {
        case connected(FileDescriptor)
        case inProgress(FileDescriptor)
    }

    /// socket(2), bind(2) to `source` (when given), connect(2) to `server`; non-blocking and close-on-exec.
    static func connect(to server: SocketAddress, from source: String?) throws(SystemError) -> Connect {
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = FileDescriptor(owning: try checked("socket") { socket(AF_INET, kind, 0) })
        do throws(SystemError) {
            try fd.setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            if let source {
                try fd.setOption(level: Int32(IPPROTO_IP), name: bindAddressNoPort, value: 1)
                var local = try address(source, port: 0)
                _ = try checked("bind") {
                    withUnsafePointer(to: &local) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            Glibc.bind(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                }
            }
            var remote = try address(server.host, port: server.port)
            let rc = withUnsafePointer(to: &remote) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if rc == 0 { return .connected(fd) }
            let err = errno
            if err == EINPROGRESS || err == EINTR { return .inProgress(fd) }
            throw SystemError("connect", errno: err)
        } catch {
            fd.close()
            throw error
        }
    }

    /// getsockopt(SO_ERROR): 0 once a non-blocking connect has succeeded.
    static func pendingError(_ fd: FileDescriptor) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd.rawValue, SOL_SOCKET, SO_ERROR, &value, &length) != 0 { return errno }
        return value
    }

    private static func address(_ host: String, port: UInt16) throws(SystemError) -> sockaddr_in {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else { throw SystemError("inet_pton", errno: EINVAL) }
        return sin
    }

    /// One request on a fresh connection with `Connection: close`, waiting at most `timeoutSeconds` in all.
    static func exchange(
        _ server: SocketAddress, method: String, path: String, body: [UInt8]? = nil, timeoutSeconds: Double = 10
    ) throws(BenchError) -> HTTPResponseReader.Response {
        let clock = MonotonicClock()
        let deadline = clock.nowNanoseconds + UInt64(timeoutSeconds * 1e9)
        let fd: FileDescriptor
        do {
            switch try connect(to: server, from: nil) {
            case .connected(let f), .inProgress(let f): fd = f
            }
        } catch {
            throw .setup("\(method) \(path): \(error)")
        }
        defer { fd.close() }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(server)\r\nConnection: close\r\n"
        if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        var bytes = Array((request + "\r\n").utf8)
        if let body { bytes += body }
        var sent = 0
        var reader = HTTPResponseReader()
        var scratch = [UInt8](repeating: 0, count: 16 * 1024)
        // Poll-driven; each pass waits at most 50 ms, and the whole exchange ends at the deadline.
        while clock.nowNanoseconds < deadline {
            var p = pollfd(fd: fd.rawValue, events: Int16(sent < bytes.count ? POLLOUT : POLLIN), revents: 0)
            _ = poll(&p, 1, 50)
            if sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes {
                    Glibc.send(fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if n > 0 {
                    sent += n
                } else if n < 0 && errno != EAGAIN && errno != EINPROGRESS && errno != ENOTCONN && errno != EINTR {
                    throw .setup("\(method) \(path): send: \(String(cString: strerror(errno)))")
                }
                continue
            }
            let n = scratch.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw .setup("\(method) \(path): read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw .setup("\(method) \(path): connection closed before a full response") }
            scratch.withUnsafeBytes { reader.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            do {
                if let response = try reader.next() { return response }
            } catch {
                throw .setup("\(method) \(path): \(error)")
            }
        }
        throw .setup("\(method) \(path): no response within \(timeoutSeconds) s")
    }
}
