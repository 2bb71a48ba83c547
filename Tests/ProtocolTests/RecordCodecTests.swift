import LivefeedProtocol
import Testing

@Suite struct RecordCodecTests {
    static let samples: [Record] = [
        .handoff(connectionID: 42, view: .channel, client: "127.0.0.1:5555"),
        .handoff(connectionID: UInt64.max, view: .http, client: ""),
        .drain(spreadMilliseconds: 1000, retryAfterMilliseconds: 250),
        .workerReady(pid: 1234),
        .connectionOpened(connectionID: 7, view: .echo),
        .connectionClosed(connectionID: 7, view: .channel, fields: [
            "reason": .string("slow_consumer"), "frames": .int(10), "dropped": .int(3), "client": .string("[::1]:80"),
        ]),
        .log(level: .warning, event: "poll_failed", fields: ["error": .string("busy ✓"), "n": .int(-5)]),
        .workerGauges(WorkerGauges()),
        .workerGauges(
            WorkerGauges(
                connections: [.http: 3, .channel: 40, .echo: 0], queuedBytes: 1 << 20, recordsQueued: 7,
                recordsQueuedPeak: 4000, recordsDropped: 12)),
    ]

    @Test(arguments: samples)
    func everyRecordSurvivesARoundTrip(_ record: Record) throws {
        let bytes = RecordCodec.encode(record)
        #expect(try RecordCodec.frameLength(bytes[...]) == bytes.count)
        #expect(try RecordCodec.decode(bytes[...]) == record)
    }

    @Test func aMessageCarriesRecordsBackToBack() throws {
        let message = Self.samples.flatMap(RecordCodec.encode)
        #expect(try RecordCodec.records(in: message[...]) == Self.samples)
        #expect(try RecordCodec.records(in: RecordCodec.encode(Self.samples[3])[...]) == [Self.samples[3]])
        // A record cut short, trailing bytes that are not a header, a bad record in the middle: the whole message
        // is refused, nothing of it decoded.
        #expect(throws: RecordCodec.DecodeError.truncated) { try RecordCodec.records(in: message.dropLast()) }
        #expect(throws: RecordCodec.DecodeError.truncated) { try RecordCodec.records(in: (message + [3, 1])[...]) }
        var corrupt = message
        corrupt[RecordCodec.encode(Self.samples[0]).count] = 9  // the second record's version byte
        #expect(throws: RecordCodec.DecodeError.badVersion(9)) { try RecordCodec.records(in: corrupt[...]) }
    }

    @Test func wrongVersionIsRejected() {
        var bytes = RecordCodec.encode(.workerReady(pid: 1))
        #expect(bytes[0] == RecordCodec.version)
        for other: UInt8 in [0, 1, 2, 3, 4, 255] where other != RecordCodec.version {
            bytes[0] = other
            #expect(throws: RecordCodec.DecodeError.badVersion(other)) { try RecordCodec.decode(bytes[...]) }
        }
    }

    @Test func unknownFieldsAreIgnoredWithinAVersion() throws {
        // A newer worker may add a field to a kind without bumping the version; an older reader skips it.
        let ready = RecordCodec.encode(.workerReady(pid: 9))
        var payload = Array(ready[RecordCodec.headerSize...])
        payload[1] += 1  // field count (u16, low byte)
        payload += [5] + Array("extra".utf8) + [1, 0, 0, 0, 2] + Array("hi".utf8)
        let n = payload.count
        let out = Array(ready[..<4]) + [0, 0, UInt8(n >> 8), UInt8(n & 0xff)] + payload
        #expect(try RecordCodec.decode(out[...]) == .workerReady(pid: 9))
    }

    @Test func negativeGaugeConnectionCountIsRejected() {
        var g = WorkerGauges()
        g.connections[.channel] = -1
        let bytes = RecordCodec.encode(.workerGauges(g))
        #expect(throws: RecordCodec.DecodeError.badValue("conn_channel")) { try RecordCodec.decode(bytes[...]) }
    }

    @Test func unknownKindIsRejected() {
        var bytes = RecordCodec.encode(.workerReady(pid: 1))
        bytes[1] = 99
        #expect(throws: RecordCodec.DecodeError.unknownKind(99)) { try RecordCodec.decode(bytes[...]) }
    }

    @Test func oversizedLengthIsRejectedFromTheHeaderAlone() {
        let header: [UInt8] = [RecordCodec.version, 19, 0, 0, 0x7f, 0xff, 0xff, 0xff]
        #expect(throws: RecordCodec.DecodeError.tooLarge(0x7fff_ffff)) { try RecordCodec.frameLength(header[...]) }
    }

    @Test func missingFieldIsATypedError() {
        // A log record with no fields at all.
        let bytes: [UInt8] = [RecordCodec.version, 19, 0, 0, 0, 0, 0, 2, 0, 0]
        #expect(throws: RecordCodec.DecodeError.missingField("level")) { try RecordCodec.decode(bytes[...]) }
    }

    @Test func truncatedPayloadIsRejected() {
        let bytes = RecordCodec.encode(.handoff(connectionID: 1, view: .http, client: "x"))
        for cut in 0..<bytes.count {
            #expect(throws: RecordCodec.DecodeError.self) { try RecordCodec.decode(bytes[..<cut]) }
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SeededGenerator(seed: 0x5eed)
        for _ in 0..<5000 {
            let n = Int(rng.next() % 64)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if n >= 8 {
                bytes[0] = RecordCodec.version
                bytes[2] = 0
                bytes[3] = 0
                bytes[4] = 0
                bytes[5] = 0
                bytes[6] = 0
                bytes[7] = UInt8(n - 8)
            }
            _ = try? RecordCodec.decode(bytes[...])
        }
    }
}
