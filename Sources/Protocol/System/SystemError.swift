import CLinux
import Glibc

/// A failed system call: the errno it left and the call's name.
package struct SystemError: Error, CustomStringConvertible, Sendable {
    package var errno: Int32
    package var call: String

    package init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    package var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
    package var isWouldBlock: Bool { errno == EAGAIN || errno == EWOULDBLOCK }
}

/// The outcome of a non-blocking call: done with a value, or nothing to do yet.
package enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

/// Runs a call that returns -1 and sets errno on failure, retrying EINTR and turning EAGAIN into a value.
/// EBADF and EFAULT are bugs in this process, not conditions to handle.
@inline(__always)
package func retryingInterrupts<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let err = Glibc.errno
        switch err {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        case EBADF, EFAULT: preconditionFailure("\(call): \(String(cString: strerror(err))) — a descriptor bug")
        default: throw SystemError(call, errno: err)
        }
    }
}

/// Like `retryingInterrupts` for calls that must not return EAGAIN (blocking or setup calls).
@inline(__always)
package func checked<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
    switch try retryingInterrupts(call, body) {
    case .done(let value): return value
    case .wouldBlock: throw SystemError(call, errno: EAGAIN)
    }
}
