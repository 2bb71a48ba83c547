import CLinux
import Glibc

/// An epoll set. Owns its descriptor; each registration carries a 64-bit token chosen by the caller.
package struct Epoll: ~Copyable {
    package struct Events: OptionSet, Sendable {
        package let rawValue: UInt32
        package init(rawValue: UInt32) { self.rawValue = rawValue }
        package static let readable = Events(rawValue: EPOLLIN.rawValue)
        package static let writable = Events(rawValue: EPOLLOUT.rawValue)
        package static let readHangup = Events(rawValue: EPOLLRDHUP.rawValue)
        package static let hangup = Events(rawValue: EPOLLHUP.rawValue)
        package static let error = Events(rawValue: EPOLLERR.rawValue)
        package static let edgeTriggered = Events(rawValue: EPOLLET.rawValue)
    }

    package let fd: FileDescriptor
    // Heap buffers, so `wait` need not be mutating: handlers called from `wait` use the same set freely.
    private let capacity: Int
    private let eventsOut: UnsafeMutablePointer<UInt32>
    private let tokensOut: UnsafeMutablePointer<UInt64>

    package init(capacity: Int = 256) throws(SystemError) {
        fd = FileDescriptor(owning: try checked("epoll_create1") { lf_epoll_create() })
        self.capacity = min(capacity, 256)
        eventsOut = .allocate(capacity: self.capacity)
        tokensOut = .allocate(capacity: self.capacity)
    }

    deinit {
        fd.close()
        eventsOut.deallocate()
        tokensOut.deallocate()
    }

    /// Wraps epoll_ctl(EPOLL_CTL_ADD).
    package func add(_ target: FileDescriptor, events: Events, token: UInt64) throws(SystemError) {
        _ = try checked("epoll_ctl") { lf_epoll_ctl(fd.rawValue, EPOLL_CTL_ADD, target.rawValue, events.rawValue, token) }
    }

    /// Wraps epoll_ctl(EPOLL_CTL_MOD).
    package func modify(_ target: FileDescriptor, events: Events, token: UInt64) throws(SystemError) {
        _ = try checked("epoll_ctl") { lf_epoll_ctl(fd.rawValue, EPOLL_CTL_MOD, target.rawValue, events.rawValue, token) }
    }

    /// Wraps epoll_ctl(EPOLL_CTL_DEL). Closing a descriptor also removes it; this is for ones that stay open.
    package func remove(_ target: FileDescriptor) {
        _ = lf_epoll_ctl(fd.rawValue, EPOLL_CTL_DEL, target.rawValue, 0, 0)
    }

    /// Wraps epoll_wait(2); `timeoutMilliseconds` -1 waits forever. Calls `body` once per ready descriptor.
    package func wait(timeoutMilliseconds: Int32, _ body: (UInt64, Events) -> Void) throws(SystemError) {
        let n = lf_epoll_wait(fd.rawValue, eventsOut, tokensOut, Int32(capacity), timeoutMilliseconds)
        if n < 0 {
            if Glibc.errno == EINTR { return }
            throw SystemError("epoll_wait")
        }
        for i in 0..<Int(n) { body(tokensOut[i], Events(rawValue: eventsOut[i])) }
    }
}
