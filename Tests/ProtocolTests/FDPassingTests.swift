import Glibc
import LivefeedProtocol
import Testing

/// Several descriptors in one SCM_RIGHTS message (a loop turn's handoffs to one worker) arrive in the order sent,
/// each still the same open file, together with the message's bytes; a message of one record and no descriptor
/// still reads as before.
@Suite struct FDPassingTests {
    static func count(_ outcome: IOResult<Int>) -> Int? {
        if case .done(let n) = outcome { n } else { nil }
    }

    /// `count` pipes: the write ends are sent, the read ends kept to tell which arrived where.
    private func pipes(_ count: Int) -> [(read: Int32, write: Int32)] {
        (0..<count).map { _ in
            var fds: [Int32] = [-1, -1]
            precondition(pipe(&fds) == 0)
            return (fds[0], fds[1])
        }
    }

    @Test(arguments: [1, 2, 32, FDPassing.maxDescriptorsPerMessage])
    func descriptorsArriveInTheOrderSentWithTheirMessage(count: Int) throws {
        let (a, b) = try SocketPair.seqpacket()
        defer {
            a.close()
            b.close()
        }
        let ends = pipes(count)
        defer { ends.forEach { close($0.read) } }
        var message: [UInt8] = []
        for i in 0..<count {
            message += RecordCodec.encode(.handoff(connectionID: UInt64(i), view: .channel, client: "c\(i)"))
        }
        let sent = try FDPassing.send(on: a, message, descriptors: ends.map { FileDescriptor(owning: $0.write) })
        #expect(Self.count(sent) == message.count)
        ends.forEach { close($0.write) }  // ours; the message holds its own references

        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let outcome = try buffer.withUnsafeMutableBytes { raw in try FDPassing.receiveBatch(on: b, into: raw) }
        guard case .done(let r) = outcome else {
            Issue.record("nothing received")
            return
        }
        #expect(r.byteCount == message.count)
        #expect(!r.anomaly)
        #expect(r.descriptors.count == count)
        let records = try RecordCodec.records(in: buffer[0..<r.byteCount])
        #expect(records.count == count)
        // The i-th descriptor is the write end of the i-th pipe: a byte written there comes out of that pipe.
        for (i, fd) in r.descriptors.enumerated() {
            var byte = UInt8(truncatingIfNeeded: i)
            #expect(write(fd.rawValue, &byte, 1) == 1)
            fd.close()
            var got: UInt8 = 0
            #expect(read(ends[i].read, &got, 1) == 1)
            #expect(got == UInt8(truncatingIfNeeded: i))
        }
    }

    @Test func aMessageWithoutDescriptorsAndEndOfFile() throws {
        let (a, b) = try SocketPair.seqpacket()
        defer { b.close() }
        let message = RecordCodec.encode(.drain(spreadMilliseconds: 10, retryAfterMilliseconds: 20))
        #expect(Self.count(try FDPassing.send(on: a, message, descriptors: [])) == message.count)
        a.close()
        var buffer = [UInt8](repeating: 0, count: 1024)
        let first = try buffer.withUnsafeMutableBytes { raw in try FDPassing.receiveBatch(on: b, into: raw) }
        guard case .done(let r) = first else {
            Issue.record("nothing received")
            return
        }
        #expect(r.byteCount == message.count && r.descriptors.isEmpty && !r.anomaly)
        let second = try buffer.withUnsafeMutableBytes { raw in try FDPassing.receiveBatch(on: b, into: raw) }
        guard case .done(let eof) = second else {
            Issue.record("no end of file")
            return
        }
        #expect(eof.byteCount == 0 && eof.descriptors.isEmpty)
    }
}
