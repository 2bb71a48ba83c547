import Glibc
import LivefeedProtocol

/// Immutable bytes at a stable address, shared by reference: a frame encoded once and queued to, or written
/// straight from, many connections without a copy.
final class SharedBytes {
    let base: UnsafeMutableRawPointer
    let count: Int

    init(_ bytes: [UInt8]) {
        count = bytes.count
        base = .allocate(byteCount: max(1, bytes.count), alignment: 1)
        bytes.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    }

    deinit { base.deallocate() }
}

/// A reusable iovec array, one per event loop: building a writev needs no allocation.
final class IOVecScratch {
    let capacity = 256
    let iov: UnsafeMutablePointer<iovec>

    init() { iov = .allocate(capacity: capacity) }
    deinit { iov.deallocate() }
}
