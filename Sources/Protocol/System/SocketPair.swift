import CLinux
import Glibc

/// Wraps socketpair(AF_UNIX, SOCK_SEQPACKET): a connected pair whose messages keep their boundaries,
/// so one record and its passed descriptor arrive together or not at all.
package enum SocketPair {
    package static func seqpacket() throws(SystemError) -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        let kind = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        _ = try fds.withUnsafeMutableBufferPointer { p throws(SystemError) in
            try checked("socketpair") { socketpair(AF_UNIX, kind, 0, p.baseAddress) }
        }
        return (FileDescriptor(owning: fds[0]), FileDescriptor(owning: fds[1]))
    }
}
