import CLinux
import Glibc

/// Sending and receiving one message with at most one descriptor as SCM_RIGHTS ancillary data.
/// All msghdr/cmsg handling lives in the C shim (`lf_send_with_fd`, `lf_recv_with_fd`), which checks level,
/// type and length, receives with MSG_CMSG_CLOEXEC, and closes any surplus descriptor.
package enum FDPassing {
    package struct Received {
        package var byteCount: Int
        package var descriptor: FileDescriptor?
        /// Control data was truncated, the message was truncated, or a foreign cmsg arrived.
        package var anomaly: Bool
    }

    /// Wraps sendmsg(2). The caller still owns `descriptor` and closes its copy once this returns `.done`.
    package static func send(
        on socket: FileDescriptor, _ bytes: [UInt8], descriptor: FileDescriptor?
    ) throws(SystemError) -> IOResult<Int> {
        let raw = descriptor?.rawValue ?? -1
        return try retryingInterrupts("sendmsg") {
            bytes.withUnsafeBytes { buf in lf_send_with_fd(socket.rawValue, buf.baseAddress, buf.count, raw) }
        }
    }

    /// Wraps recvmsg(2). `.done` with byteCount 0 and no descriptor is end of file.
    package static func receive(
        on socket: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer
    ) throws(SystemError) -> IOResult<Received> {
        var fd: Int32 = -1
        var flags: Int32 = 0
        switch try retryingInterrupts("recvmsg", {
            lf_recv_with_fd(socket.rawValue, buffer.baseAddress, buffer.count, &fd, &flags)
        }) {
        case .wouldBlock: return .wouldBlock
        case .done(let n):
            return .done(
                Received(
                    byteCount: n, descriptor: fd >= 0 ? FileDescriptor(owning: fd) : nil, anomaly: flags != 0))
        }
    }
}
