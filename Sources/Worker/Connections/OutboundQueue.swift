import Glibc
import LivefeedProtocol

/// Bytes waiting to be written to one socket, as shared chunks. Empty most of the time: `send` first writes
/// straight from the shared buffers and queues only what the socket did not take, so a subscriber that keeps up
/// costs one writev and no allocation per tick.
struct OutboundQueue {
    private var chunks: [SharedBytes] = []
    private var head = 0  // index of the first unsent chunk
    private var offset = 0  // bytes of chunks[head] already written
    private(set) var byteCount = 0

    var isEmpty: Bool { byteCount == 0 }
    var chunkCount: Int { chunks.count - head }

    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        append(SharedBytes(bytes))
    }

    mutating func append(_ chunk: SharedBytes) {
        chunks.append(chunk)
        byteCount += chunk.count
    }

    enum FlushResult {
        case drained
        case blocked
        case failed(SystemError)
    }

    /// Writes `frames` after anything already queued. When the queue is empty they go out in one writev from their
    /// shared buffers (one buffer: `send(_:to:scratch:written:)`); the part the socket does not take is queued.
    /// `written` reports bytes sent.
    mutating func send(
        _ frames: ArraySlice<SharedBytes>, to fd: FileDescriptor, scratch: IOVecScratch, written: (Int) -> Void
    ) -> FlushResult {
        if frames.count == 1, let only = frames.first { return send(only, to: fd, scratch: scratch, written: written) }
        guard isEmpty, frames.count <= scratch.capacity else {
            for f in frames { append(f) }
            return flush(to: fd, scratch: scratch, written: written)
        }
        var total = 0
        for (i, f) in frames.enumerated() {
            scratch.iov[i] = iovec(iov_base: f.base, iov_len: f.count)
            total += f.count
        }
        let sent: Int
        do {
            switch try fd.writev(UnsafeBufferPointer(start: scratch.iov, count: frames.count)) {
            case .done(let n): sent = n
            case .wouldBlock: sent = 0
            }
        } catch {
            return .failed(error)
        }
        written(sent)
        if sent == total { return .drained }
        var skip = sent
        for f in frames {
            if skip >= f.count {
                skip -= f.count
                continue
            }
            append(f)
            if skip > 0 {
                offset = skip
                byteCount -= skip
                skip = 0
            }
        }
        return .blocked
    }

    /// Writes one buffer after anything already queued: when the queue is empty, straight from the shared buffer
    /// with send(2), whose way through the kernel skips writev's file and iovec layers (nearly every fan-out write:
    /// a tick's frames for a subscriber are joined into one buffer). The part the socket does not take is queued.
    mutating func send(_ chunk: SharedBytes, to fd: FileDescriptor, scratch: IOVecScratch, written: (Int) -> Void)
        -> FlushResult
    {
        guard isEmpty else {
            append(chunk)
            return flush(to: fd, scratch: scratch, written: written)
        }
        let sent: Int
        do {
            switch try fd.write(UnsafeRawBufferPointer(start: chunk.base, count: chunk.count)) {
            case .done(let n): sent = n
            case .wouldBlock: sent = 0
            }
        } catch {
            return .failed(error)
        }
        written(sent)
        if sent == chunk.count { return .drained }
        append(chunk)
        offset = sent
        byteCount -= sent
        return .blocked
    }

    /// Writes until the queue is empty or the socket would block.
    mutating func flush(to fd: FileDescriptor, scratch: IOVecScratch, written: (Int) -> Void) -> FlushResult {
        while byteCount > 0 {
            let n = min(scratch.capacity, chunks.count - head)
            for i in 0..<n {
                let c = chunks[head + i]
                let skip = i == 0 ? offset : 0
                scratch.iov[i] = iovec(iov_base: c.base + skip, iov_len: c.count - skip)
            }
            let sent: Int
            do {
                switch try fd.writev(UnsafeBufferPointer(start: scratch.iov, count: n)) {
                case .done(let count): sent = count
                case .wouldBlock: return .blocked
                }
            } catch {
                return .failed(error)
            }
            written(sent)
            var remaining = sent
            byteCount -= sent
            while remaining > 0 {
                let left = chunks[head].count - offset
                if remaining >= left {
                    remaining -= left
                    head += 1
                    offset = 0
                } else {
                    offset += remaining
                    remaining = 0
                }
            }
            if head > 64 && head * 2 > chunks.count {
                chunks.removeSubrange(0..<head)
                head = 0
            }
        }
        // An idle connection holds no buffer.
        chunks = []
        head = 0
        offset = 0
        return .drained
    }
}
