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

    /// Descriptors one message carries at most (`send(on:_:descriptors:)`, `receiveBatch(on:into:)`).
    package static let maxDescriptorsPerMessage = Int(LF_MAX_FDS)

    /// Wraps sendmsg(2) for several descriptors at once, in order (at most `maxDescriptorsPerMessage`): one system
    /// call, one wakeup of the receiver. The caller still owns every descriptor and closes its copies once this
    /// returns `.done`; on `.wouldBlock` nothing was sent.
    package static func send(
        on socket: FileDescriptor, _ bytes: [UInt8], descriptors: [FileDescriptor]
    ) throws(SystemError) -> IOResult<Int> {
        precondition(descriptors.count <= maxDescriptorsPerMessage, "at most \(maxDescriptorsPerMessage) descriptors")
        var raw: [Int32] = []
        raw.reserveCapacity(descriptors.count)
        for fd in descriptors { raw.append(fd.rawValue) }
        return try retryingInterrupts("sendmsg") {
            bytes.withUnsafeBytes { buf in
                raw.withUnsafeBufferPointer { fds in
                    lf_send_with_fds(socket.rawValue, buf.baseAddress, buf.count, fds.baseAddress, Int32(fds.count))
                }
            }
        }
    }

    package struct ReceivedBatch {
        package var byteCount: Int
        /// In the order they were sent.
        package var descriptors: [FileDescriptor]
        /// Control data was truncated (the kernel dropped descriptors: ours were exhausted), the message was
        /// truncated, or a foreign cmsg arrived.
        package var anomaly: Bool
    }

    /// Wraps recvmsg(2) for a message with up to `maxDescriptorsPerMessage` descriptors. `.done` with byteCount 0
    /// and no descriptor is end of file.
    package static func receiveBatch(
        on socket: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer
    ) throws(SystemError) -> IOResult<ReceivedBatch> {
        var fds = [Int32](repeating: -1, count: maxDescriptorsPerMessage)
        var count: Int32 = 0
        var flags: Int32 = 0
        let outcome = try fds.withUnsafeMutableBufferPointer { out throws(SystemError) in
            try retryingInterrupts("recvmsg") {
                lf_recv_with_fds(
                    socket.rawValue, buffer.baseAddress, buffer.count, out.baseAddress, Int32(out.count), &count, &flags)
            }
        }
        switch outcome {
        case .wouldBlock: return .wouldBlock
        case .done(let n):
            let received = fds.prefix(Int(count)).map { FileDescriptor(owning: $0) }
            return .done(ReceivedBatch(byteCount: n, descriptors: received, anomaly: flags != 0))
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
