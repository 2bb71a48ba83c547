import Glibc
import LivefeedProtocol

/// Bytes waiting to be written to one socket. Chunks are shared arrays: a frame encoded once for a tick is
/// appended to many queues without copying its bytes. `flush` writes as many chunks as fit in one writev(2).
struct OutboundQueue {
    private var chunks: [[UInt8]] = []
    private var head = 0  // index of the first unsent chunk
    private var offset = 0  // bytes of chunks[head] already written
    private(set) var byteCount = 0

    var isEmpty: Bool { byteCount == 0 }
    var chunkCount: Int { chunks.count - head }

    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        chunks.append(bytes)
        byteCount += bytes.count
    }

    /// Drops everything not yet started; returns how many whole chunks were dropped.
    mutating func dropUnstarted() -> Int {
        let keep = offset > 0 ? head + 1 : head
        let dropped = chunks.count - keep
        for c in chunks[keep...] { byteCount -= c.count }
        chunks.removeSubrange(keep...)
        return dropped
    }

    enum FlushResult {
        case drained
        case blocked
        case failed(SystemError)
    }

    /// Writes until the queue is empty or the socket would block. `written` reports bytes sent and whole
    /// chunks completed.
    mutating func flush(to fd: FileDescriptor, written: (Int, Int) -> Void) -> FlushResult {
        let maxIOV = 64
        while byteCount > 0 {
            let n = min(maxIOV, chunks.count - head)
            let outcome: Result<IOResult<Int>, SystemError> = withIOVecs(count: n) { iov in
                do throws(SystemError) {
                    return .success(try fd.writev(iov))
                } catch {
                    return .failure(error)
                }
            }
            switch outcome {
            case .failure(let error): return .failed(error)
            case .success(.wouldBlock): return .blocked
            case .success(.done(let sent)):
                var remaining = sent
                var completed = 0
                byteCount -= sent
                while remaining > 0 {
                    let left = chunks[head].count - offset
                    if remaining >= left {
                        remaining -= left
                        head += 1
                        offset = 0
                        completed += 1
                    } else {
                        offset += remaining
                        remaining = 0
                    }
                }
                written(sent, completed)
                compactIfNeeded()
            }
        }
        chunks.removeAll(keepingCapacity: false)
        head = 0
        offset = 0
        return .drained
    }

    private mutating func compactIfNeeded() {
        if head > 64 && head * 2 > chunks.count {
            chunks.removeSubrange(0..<head)
            head = 0
        }
    }

    private func withIOVecs<R>(count: Int, _ body: (UnsafeBufferPointer<iovec>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { iov in
            // The arrays stay alive in `chunks` for the duration of the call; writev only reads them.
            func fill(_ i: Int) -> R {
                if i == count { return body(UnsafeBufferPointer(iov)) }
                return chunks[head + i].withUnsafeBytes { raw in
                    let skip = i == 0 ? offset : 0
                    iov[i] = iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + skip), iov_len: raw.count - skip)
                    return fill(i + 1)
                }
            }
            return fill(0)
        }
    }
}
