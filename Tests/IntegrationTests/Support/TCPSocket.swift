import Foundation
import Glibc

/// Why a test client's socket operation did not complete.
enum SocketError: Error, CustomStringConvertible {
    /// The deadline passed while waiting for `what`.
    case timedOut(waitingFor: String)
    /// The peer closed its side (read returned 0) before `what` was complete.
    case closedByPeer(while: String)
    /// The peer reset the connection (ECONNRESET or EPIPE).
    case resetByPeer(while: String)
    /// The peer sent bytes that break the protocol the client speaks.
    case protocolViolation(String)
    /// Any other failed call, with its errno.
    case system(call: String, errno: Int32)

    /// True when the connection ended from the other side, by EOF or by reset.
    var isPeerGone: Bool {
        switch self {
        case .closedByPeer, .resetByPeer: true
        default: false
        }
    }

    var description: String {
        switch self {
        case .timedOut(let what): "timed out waiting for \(what)"
        case .closedByPeer(let what): "peer closed the connection while \(what)"
        case .resetByPeer(let what): "peer reset the connection while \(what)"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

/// A blocking TCP connection to 127.0.0.1 whose every read and write has a deadline, so a test can never hang.
///
/// Owns one socket descriptor (opened with SOCK_CLOEXEC, so servers spawned by parallel tests never inherit it),
/// closed by `close()` or on deinit. Bytes read ahead of what a caller consumed stay in `inbox` for the next call,
/// which is how a WebSocket client keeps frames that arrived together with the 101 response.
final class TCPSocket {
    private(set) var fd: Int32
    private var inbox: [UInt8] = []
    /// Every byte recv(2) returned on this socket so far, consumed or not.
    private(set) var bytesReceived = 0

    /// Connects to 127.0.0.1:`port`, from `sourceAddress` (another loopback address such as 127.0.0.2, so a test can
    /// play several clients) when given. `receiveBufferSize` sets SO_RCVBUF before connecting (so the window the
    /// client advertises is small from the first segment); the kernel doubles the value and applies its minimum.
    init(
        connectingToPort port: UInt16, from sourceAddress: String? = nil, timeout: Duration = .seconds(5),
        receiveBufferSize: Int32? = nil
    ) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system(call: "socket", errno: errno) }
        self.fd = fd
        try setTimeout(SO_SNDTIMEO, timeout)
        if var size = receiveBufferSize {
            if setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
                let code = errno
                Glibc.close(fd)
                self.fd = -1
                throw SocketError.system(call: "setsockopt SO_RCVBUF", errno: code)
            }
        }
        if let sourceAddress {
            var source = sockaddr_in()
            source.sin_family = sa_family_t(AF_INET)
            guard inet_pton(AF_INET, sourceAddress, &source.sin_addr) == 1 else {
                close()
                throw SocketError.protocolViolation("not an IPv4 address: \(sourceAddress)")
            }
            let bound = withUnsafePointer(to: &source) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if bound != 0 {
                let code = errno
                close()
                throw SocketError.system(call: "bind to \(sourceAddress)", errno: code)
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 {
            let code = errno
            Glibc.close(fd)
            self.fd = -1
            throw SocketError.system(call: "connect to 127.0.0.1:\(port)", errno: code)
        }
    }

    deinit { close() }

    /// The local (client-side) port, from getsockname(2).
    var localPort: UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        precondition(result == 0, "getsockname failed: errno \(errno)")
        return UInt16(bigEndian: address.sin_port)
    }

    /// Number of bytes already read from the socket but not yet consumed.
    var bufferedByteCount: Int { inbox.count }

    /// Sends all of `bytes` (MSG_NOSIGNAL: a closed peer is an error, never SIGPIPE).
    func send(_ bytes: [UInt8], timeout: Duration = .seconds(5)) throws {
        try setTimeout(SO_SNDTIMEO, timeout)
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
            }
            if result >= 0 {
                sent += result
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: throw SocketError.timedOut(waitingFor: "the peer to accept \(bytes.count) bytes")
            case EPIPE, ECONNRESET: throw SocketError.resetByPeer(while: "sending")
            case let code: throw SocketError.system(call: "send", errno: code)
            }
        }
    }

    /// True if a read would not block within `timeout` (data, EOF or error pending), from poll(2).
    func isReadable(within timeout: Duration = .zero) -> Bool {
        if !inbox.isEmpty { return true }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(
            max(0, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        return poll(&descriptor, 1, milliseconds) > 0
    }

    /// Reads whatever arrives next into the inbox. Returns false on EOF.
    @discardableResult
    func fill(deadline: ContinuousClock.Instant, waitingFor what: String) throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let remaining = deadline - .now
            guard remaining > .zero else { throw SocketError.timedOut(waitingFor: what) }
            try setTimeout(SO_RCVTIMEO, remaining)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                inbox.append(contentsOf: chunk[0..<count])
                bytesReceived += count
                return true
            }
            if count == 0 { return false }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: throw SocketError.timedOut(waitingFor: what)
            case ECONNRESET, EPIPE: throw SocketError.resetByPeer(while: "waiting for \(what)")
            case let code: throw SocketError.system(call: "recv", errno: code)
            }
        }
    }

    /// Consumes and returns the bytes before `delimiter`; the delimiter is consumed too.
    func read(until delimiter: [UInt8], limit: Int, deadline: ContinuousClock.Instant, waitingFor what: String) throws
        -> [UInt8]
    {
        var searchFrom = 0
        while true {
            if let end = inbox.byteRange(of: delimiter, from: searchFrom) {
                let result = Array(inbox[0..<end.lowerBound])
                inbox.removeFirst(end.upperBound)
                return result
            }
            guard inbox.count <= limit else {
                throw SocketError.protocolViolation("no \(what) within \(limit) bytes")
            }
            searchFrom = max(0, inbox.count - delimiter.count + 1)
            guard try fill(deadline: deadline, waitingFor: what) else {
                throw SocketError.closedByPeer(while: "waiting for \(what)")
            }
        }
    }

    /// Consumes and returns exactly `count` bytes.
    func read(exactly count: Int, deadline: ContinuousClock.Instant, waitingFor what: String) throws -> [UInt8] {
        while inbox.count < count {
            guard try fill(deadline: deadline, waitingFor: what) else {
                throw SocketError.closedByPeer(while: "waiting for \(what)")
            }
        }
        let result = Array(inbox[0..<count])
        inbox.removeFirst(count)
        return result
    }

    /// Consumes everything until the peer closes its side.
    func readToEnd(limit: Int, deadline: ContinuousClock.Instant, waitingFor what: String) throws -> [UInt8] {
        while try fill(deadline: deadline, waitingFor: what) {
            guard inbox.count <= limit else { throw SocketError.protocolViolation("\(what) exceeds \(limit) bytes") }
        }
        defer { inbox.removeAll() }
        return inbox
    }

    /// Closes the write side (shutdown(2) SHUT_WR); reads stay possible.
    func shutdownWrite() {
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Closes abruptly: SO_LINGER with a zero timeout makes close(2) send RST instead of FIN, as when a client
    /// process is killed or its network drops. Idempotent.
    func abort() {
        guard fd >= 0 else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    /// Closes the descriptor. Idempotent.
    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    private func setTimeout(_ option: Int32, _ duration: Duration) throws {
        // A zero timeval means "block forever", so never pass less than a millisecond.
        let clamped = max(duration, .milliseconds(1))
        let (seconds, attoseconds) = clamped.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        if setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) != 0 {
            throw SocketError.system(call: "setsockopt", errno: errno)
        }
    }
}

extension Array where Element == UInt8 {
    /// The first occurrence of `needle` at or after `start`.
    func byteRange(of needle: [UInt8], from start: Int = 0) -> Range<Int>? {
        guard !needle.isEmpty, count >= needle.count, start <= count - needle.count else { return nil }
        var index = start
        while index <= count - needle.count {
            if self[index] == needle[0] && self[index..<index + needle.count].elementsEqual(needle) {
                return index..<index + needle.count
            }
            index += 1
        }
        return nil
    }
}
