import Glibc
import LivefeedProtocol
import Testing

@testable import Worker

/// `OutboundQueue` over a real connected stream socket pair: one buffer goes with send(2), several with writev(2),
/// and what the socket does not take is queued and later flushed, in order, byte for byte.
@Suite struct OutboundQueueTests {
    private func streamPair() throws -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        try #require(socketpair(AF_UNIX, kind, 0, &fds) == 0)
        return (FileDescriptor(owning: fds[0]), FileDescriptor(owning: fds[1]))
    }

    /// Reads everything the peer has queued now.
    private func drain(_ fd: FileDescriptor) throws -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let outcome = try buffer.withUnsafeMutableBytes { raw throws(SystemError) in try fd.read(into: raw) }
            guard case .done(let n) = outcome, n > 0 else { return all }
            all += buffer[0..<n]
        }
    }

    private func frame(_ byte: UInt8, _ count: Int) -> SharedBytes { SharedBytes([UInt8](repeating: byte, count: count)) }

    @Test func oneBufferOrSeveralGoOutWholeWhenTheSocketTakesThem() throws {
        let (a, b) = try streamPair()
        defer { a.close(); b.close() }
        var q = OutboundQueue()
        let scratch = IOVecScratch()
        var written = 0
        let one = frame(1, 200)
        guard case .drained = q.send([one][...], to: a, scratch: scratch, written: { written += $0 }) else {
            Issue.record("one buffer did not drain")
            return
        }
        let several = [frame(2, 100), frame(3, 50), frame(4, 10)]
        guard case .drained = q.send(several[...], to: a, scratch: scratch, written: { written += $0 }) else {
            Issue.record("several buffers did not drain")
            return
        }
        #expect(q.isEmpty && written == 360)
        let got = try drain(b)
        #expect(got == [UInt8](repeating: 1, count: 200) + [UInt8](repeating: 2, count: 100)
            + [UInt8](repeating: 3, count: 50) + [UInt8](repeating: 4, count: 10))
    }

    @Test func whatTheSocketRefusesIsQueuedAndFlushedInOrder() throws {
        let (a, b) = try streamPair()
        defer { a.close(); b.close() }
        var q = OutboundQueue()
        let scratch = IOVecScratch()
        var written = 0
        // Single large buffers until the socket is full: the first refusal queues the rest of that buffer (a
        // partial write) and everything after it goes behind it.
        var sent: [UInt8] = []
        var blocked = false
        for i in 0..<200 where !blocked {
            let f = frame(UInt8(i % 251), 16 * 1024 + i)
            sent += [UInt8](repeating: UInt8(i % 251), count: f.count)
            if case .blocked = q.send([f][...], to: a, scratch: scratch, written: { written += $0 }) { blocked = true }
        }
        try #require(blocked, "the socket never filled")
        #expect(!q.isEmpty && q.byteCount == sent.count - written)
        // Behind a queue nothing jumps ahead: these go at the end, one buffer or several.
        let after = [frame(7, 3000)]
        _ = q.send(after[...], to: a, scratch: scratch, written: { written += $0 })
        _ = q.send([frame(8, 5), frame(9, 6)][...], to: a, scratch: scratch, written: { written += $0 })
        sent += [UInt8](repeating: 7, count: 3000) + [UInt8](repeating: 8, count: 5) + [UInt8](repeating: 9, count: 6)
        var got: [UInt8] = []
        for _ in 0..<10_000 {
            got += try drain(b)
            if case .drained = q.flush(to: a, scratch: scratch, written: { written += $0 }) { break }
        }
        got += try drain(b)
        #expect(q.isEmpty && q.chunkCount == 0)
        #expect(written == sent.count)
        #expect(got.count == sent.count)
        #expect(got == sent)
    }

    @Test func aClosedPeerIsAFailureNotASignal() throws {
        let (a, b) = try streamPair()
        b.close()
        defer { a.close() }
        var q = OutboundQueue()
        let outcome = q.send([frame(1, 10)][...], to: a, scratch: IOVecScratch(), written: { _ in })
        guard case .failed = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
    }
}
