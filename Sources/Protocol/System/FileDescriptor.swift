import CLinux
import Glibc

/// A raw descriptor. Whoever holds one is its single owner and closes it once; a handoff gives ownership away.
package struct FileDescriptor: Hashable, Sendable, CustomStringConvertible {
    package let rawValue: Int32

    package init(owning rawValue: Int32) { self.rawValue = rawValue }

    package var description: String { "fd \(rawValue)" }

    /// Wraps close(2). Errors other than EBADF are ignored: Linux always releases the descriptor.
    package func close() {
        let rc = Glibc.close(rawValue)
        precondition(rc == 0 || Glibc.errno != EBADF, "double close of fd \(rawValue)")
    }

    /// Wraps fcntl(F_SETFL, O_NONBLOCK).
    package func setNonBlocking() throws(SystemError) {
        let flags = try checked("fcntl") { fcntl(rawValue, F_GETFL) }
        // A handed-over socket usually is already (the supervisor accepts with SOCK_NONBLOCK): one call, not two.
        guard flags & O_NONBLOCK == 0 else { return }
        _ = try checked("fcntl") { fcntl(rawValue, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Wraps fcntl(F_SETFD, FD_CLOEXEC), for descriptors this process did not open itself.
    package func setCloseOnExec() throws(SystemError) {
        let flags = try checked("fcntl") { fcntl(rawValue, F_GETFD) }
        _ = try checked("fcntl") { fcntl(rawValue, F_SETFD, flags | FD_CLOEXEC) }
    }

    /// Wraps read(2). `.done(0)` is end of file.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try retryingInterrupts("read") { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Wraps send(2) with MSG_NOSIGNAL so a closed peer is an EPIPE, never a SIGPIPE.
    package func write(_ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try retryingInterrupts("send") { Glibc.send(rawValue, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Wraps write(2), for pipes and other non-sockets.
    package func writePlain(_ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try retryingInterrupts("write") { Glibc.write(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Wraps writev(2). The iovecs must stay valid for the call.
    package func writev(_ iov: UnsafeBufferPointer<iovec>) throws(SystemError) -> IOResult<Int> {
        try retryingInterrupts("writev") { Glibc.writev(rawValue, iov.baseAddress, Int32(iov.count)) }
    }

    /// Wraps recv(2) with MSG_PEEK: the bytes stay queued for whoever reads the socket next.
    package func peek(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try retryingInterrupts("recv") {
            Glibc.recv(rawValue, buffer.baseAddress, buffer.count, Int32(MSG_PEEK | MSG_DONTWAIT))
        }
    }

    /// Wraps shutdown(2) for writing; errors (the peer already gone) do not matter here.
    package func shutdownWrite() { _ = Glibc.shutdown(rawValue, Int32(SHUT_WR)) }

    /// Wraps setsockopt(2) for an Int32 option.
    package func setOption(level: Int32, name: Int32, value: Int32) throws(SystemError) {
        var v = value
        _ = try checked("setsockopt") { setsockopt(rawValue, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// Wraps getsockopt(2) for an Int32 option.
    package func option(level: Int32, name: Int32) throws(SystemError) -> Int32 {
        var v: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try checked("getsockopt") { getsockopt(rawValue, level, name, &v, &length) }
        return v
    }

    /// Wraps dup3-like F_DUPFD_CLOEXEC: a new descriptor at or above `minimum`.
    package func duplicate(atLeast minimum: Int32 = 0) throws(SystemError) -> FileDescriptor {
        FileDescriptor(owning: try checked("fcntl") { fcntl(rawValue, F_DUPFD_CLOEXEC, minimum) })
    }
}
