import CLinux
import Glibc

/// A host and port, IPv4 or IPv6, as written on the command line ("127.0.0.1:8080", "[::1]:0").
package struct SocketAddress: Equatable, Sendable, CustomStringConvertible {
    package var host: String
    package var port: UInt16

    package init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses "host:port" or "[v6]:port" with a numeric host (a name such as `localhost`, or `256.1.1.1`, is nil:
    /// refused where the flag is read, not when binding fails after the database was opened); nil when malformed.
    package init?(parsing text: String) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let p = UInt16(rest.dropFirst()) else { return nil }
            port = p
        } else {
            guard let colon = text.lastIndex(of: ":"), let p = UInt16(text[text.index(after: colon)...]) else {
                return nil
            }
            host = String(text[..<colon])
            port = p
        }
        if host.isEmpty { return nil }
        var v6 = in6_addr()
        var v4 = in_addr()
        let numeric = host.utf8.contains(UInt8(ascii: ":"))
            ? inet_pton(AF_INET6, host, &v6) == 1 : inet_pton(AF_INET, host, &v4) == 1
        if !numeric { return nil }
    }

    package var isIPv6: Bool { host.utf8.contains(UInt8(ascii: ":")) }

    private static func string(fromNulTerminated chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    package var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Formats a kernel sockaddr (from accept or getsockname).
    package init?(storage: sockaddr_storage) {
        var s = storage
        switch Int32(s.ss_family) {
        case AF_INET:
            let (addr, port) = withUnsafeBytes(of: &s) { raw in
                let sin = raw.load(as: sockaddr_in.self)
                return (sin.sin_addr, sin.sin_port)
            }
            var a = addr
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
            self.init(host: Self.string(fromNulTerminated: text), port: UInt16(bigEndian: port))
        case AF_INET6:
            let (addr, port) = withUnsafeBytes(of: &s) { raw in
                let sin6 = raw.load(as: sockaddr_in6.self)
                return (sin6.sin6_addr, sin6.sin6_port)
            }
            var a = addr
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
            self.init(host: Self.string(fromNulTerminated: text), port: UInt16(bigEndian: port))
        default:
            return nil
        }
    }
}

/// A listening TCP socket, non-blocking and close-on-exec. Owns its descriptor.
package struct Listener {
    package let fd: FileDescriptor

    package init(adopting fd: FileDescriptor) { self.fd = fd }

    /// socket(2) + SO_REUSEADDR + bind(2) + listen(2).
    package static func bind(_ address: SocketAddress, backlog: Int32 = 1024) throws(SystemError) -> Listener {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = FileDescriptor(owning: try checked("socket") { socket(family, kind, 0) })
        do throws(SystemError) {
            try fd.setOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            var storage = sockaddr_storage()
            var length: socklen_t
            if address.isIPv6 {
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                sin6.sin6_port = address.port.bigEndian
                guard inet_pton(AF_INET6, address.host, &sin6.sin6_addr) == 1 else {
                    throw SystemError("inet_pton", errno: EINVAL)
                }
                withUnsafeBytes(of: sin6) { src in
                    withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) }
                }
                length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            } else {
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_port = address.port.bigEndian
                guard inet_pton(AF_INET, address.host, &sin.sin_addr) == 1 else {
                    throw SystemError("inet_pton", errno: EINVAL)
                }
                withUnsafeBytes(of: sin) { src in
                    withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) }
                }
                length = socklen_t(MemoryLayout<sockaddr_in>.size)
            }
            let len = length
            _ = try withUnsafePointer(to: &storage) { p throws(SystemError) in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemError) in
                    try checked("bind") { Glibc.bind(fd.rawValue, sa, len) }
                }
            }
            _ = try checked("listen") { Glibc.listen(fd.rawValue, backlog) }
        } catch {
            fd.close()
            throw error
        }
        return Listener(adopting: fd)
    }

    /// Wraps getsockname(2).
    package func localAddress() -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd.rawValue, $0, &length) }
        }
        return rc == 0 ? SocketAddress(storage: storage) : nil
    }

    /// Wraps getpeername(2) for a connected socket `fd`.
    package static func peerAddress(of fd: FileDescriptor) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd.rawValue, $0, &length) }
        }
        return rc == 0 ? SocketAddress(storage: storage) : nil
    }

    /// Wraps accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC. `nil` means nothing is waiting.
    package func accept() throws(SystemError) -> (FileDescriptor, SocketAddress?)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let outcome = try withUnsafeMutablePointer(to: &storage) { p throws(SystemError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemError) in
                try retryingInterrupts("accept4") { lf_accept4(fd.rawValue, sa, &length, flags) }
            }
        }
        switch outcome {
        case .done(let raw): return (FileDescriptor(owning: raw), SocketAddress(storage: storage))
        case .wouldBlock: return nil
        }
    }
}
