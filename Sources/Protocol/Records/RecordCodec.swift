/// Wire form of a record: an 8-byte header — version, kind, two zero bytes, payload length (u32 big
/// endian) — then the payload: a u16 field count and per field a u8 key length, the key, a type byte
/// (0 = int64 big endian, 1 = string with a u32 length). Records travel in SOCK_SEQPACKET messages of one or more
/// whole records back to back (`records(in:)`): from a worker a loop turn's records; from the supervisor a loop
/// turn's handoffs to that worker (at most `FDPassing.maxDescriptorsPerMessage`), whose descriptors travel in the
/// same message in the same order, the n-th to the n-th record that carries one. A worker of this version reads
/// a message of one record (an older supervisor's) the same way, so the version stayed.
///
/// Decoders ignore fields they do not know, so a field can be added within a version; a new kind, or a field
/// that becomes required, bumps the version. Version 2 added `workerGauges` and `drain`'s `retry_after_ms`;
/// version 3 lets a worker's message carry several records, and adds the handover of live connections on reload
/// (`drain`'s `handover`, `adoptLive`, `liveMoved`).
/// A reload may start workers built from newer code than the running supervisor: on a version mismatch the
/// supervisor refuses the new worker (and keeps the old ones serving) instead of misreading it.
package enum RecordCodec {
    package static let version: UInt8 = 3
    package static let headerSize = 8
    package static let maxPayload = 64 * 1024
    package static let maxFields = 64
    package static let maxKey = 64

    package enum DecodeError: Error, Equatable, Sendable {
        case badVersion(UInt8)
        case unknownKind(UInt8)
        case reservedBitsSet
        case tooLarge(Int)
        case truncated
        case badField(String)
        case tooManyFields
        case missingField(String)
        case badValue(String)
    }

    // MARK: encoding

    package static func encode(_ record: Record) -> [UInt8] {
        var fields: [(String, RecordValue)] = []
        switch record {
        case .handoff(let id, let view, let client):
            fields = [("conn", .int(Int64(bitPattern: id))), ("view", .string(view.rawValue)), ("client", .string(client))]
        case .drain(let spread, let retry, let handover):
            fields = [("spread_ms", .int(spread)), ("retry_after_ms", .int(retry)), ("handover", .int(handover ? 1 : 0))]
        case .adoptLive(let h), .liveMoved(let h):
            fields = [
                ("conn", .int(Int64(bitPattern: h.connectionID))), ("view", .string(h.view.rawValue)),
                ("path", .string(h.path)), ("format", .string(h.format)), ("cursor", .int(h.cursor)),
                ("epoch", .string(h.epoch)), ("silent_ms", .int(h.silentMilliseconds)),
                ("ping_age_ms", .int(h.pingAgeMilliseconds)), ("age_ms", .int(h.ageMilliseconds)),
                ("frames", .int(h.framesSent)), ("bytes", .int(h.bytesSent)), ("dropped", .int(h.framesDropped)),
                ("client", .string(h.client)),
            ]
        case .workerReady(let pid):
            fields = [("pid", .int(pid))]
        case .connectionOpened(let id, let view):
            fields = [("conn", .int(Int64(bitPattern: id))), ("view", .string(view.rawValue))]
        case .connectionClosed(let id, let view, let extra):
            fields = [("conn", .int(Int64(bitPattern: id))), ("view", .string(view.rawValue))]
            fields += extra.sorted { $0.key < $1.key }.filter { $0.key != "conn" && $0.key != "view" }.map { ($0.key, $0.value) }
        case .log(let level, let event, let extra):
            fields = [("level", .string(level.rawValue)), ("event", .string(event))]
            fields += extra.sorted { $0.key < $1.key }.filter { $0.key != "level" && $0.key != "event" }.map { ($0.key, $0.value) }
        case .workerGauges(let g):
            fields = [
                ("queued_bytes", .int(g.queuedBytes)), ("records_queued", .int(g.recordsQueued)),
                ("records_queued_peak", .int(g.recordsQueuedPeak)), ("records_dropped", .int(g.recordsDropped)),
                ("newest_message_id", .int(g.newestMessageID)),
            ]
            if let lag = g.replicaLagMilliseconds { fields.append(("replica_lag_ms", .int(lag))) }
            for view in ConnectionView.allCases {
                if let n = g.connections[view] { fields.append((WorkerGauges.connectionsKey(view), .int(n))) }
            }
        }
        var payload: [UInt8] = []
        payload.reserveCapacity(64)
        let count = min(fields.count, maxFields)
        appendBigEndian(&payload, UInt16(count))
        for (key, value) in fields.prefix(count) {
            let k = Array(key.utf8.prefix(maxKey))
            payload.append(UInt8(k.count))
            payload += k
            switch value {
            case .int(let v):
                payload.append(0)
                appendBigEndian(&payload, UInt64(bitPattern: v))
            case .string(let s):
                payload.append(1)
                // Bound strings so a record always fits; log lines are cut, never dropped.
                let bytes = Array(s.utf8.prefix(16 * 1024))
                appendBigEndian(&payload, UInt32(bytes.count))
                payload += bytes
            }
        }
        var out: [UInt8] = [version, record.kind.rawValue, 0, 0]
        out.reserveCapacity(headerSize + payload.count)
        appendBigEndian(&out, UInt32(payload.count))
        out += payload
        return out
    }

    private static func appendBigEndian<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        var v = value.bigEndian
        withUnsafeBytes(of: &v) { out += $0 }
    }

    // MARK: decoding

    /// How many bytes the record starting at `bytes` occupies, or nil if its header is incomplete.
    package static func frameLength(_ bytes: ArraySlice<UInt8>) throws(DecodeError) -> Int? {
        guard bytes.count >= headerSize else { return nil }
        let b = bytes.startIndex
        guard bytes[b] == version else { throw .badVersion(bytes[b]) }
        guard bytes[b + 2] == 0, bytes[b + 3] == 0 else { throw .reservedBitsSet }
        let length = Int(bytes[b + 4]) << 24 | Int(bytes[b + 5]) << 16 | Int(bytes[b + 6]) << 8 | Int(bytes[b + 7])
        guard length <= maxPayload else { throw .tooLarge(length) }
        return headerSize + length
    }

    /// The records of one message from a worker, in order: whole records back to back, nothing else.
    package static func records(in bytes: ArraySlice<UInt8>) throws(DecodeError) -> [Record] {
        var out: [Record] = []
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let rest = bytes[start...]
            guard let length = try frameLength(rest), length <= rest.count else { throw .truncated }
            out.append(try decode(bytes[start..<(start + length)]))
            start += length
        }
        return out
    }

    /// Decodes exactly one whole record.
    package static func decode(_ bytes: ArraySlice<UInt8>) throws(DecodeError) -> Record {
        guard let total = try frameLength(bytes), total == bytes.count else { throw .truncated }
        let b = bytes.startIndex
        guard let kind = Record.Kind(rawValue: bytes[b + 1]) else { throw .unknownKind(bytes[b + 1]) }
        var reader = Reader(bytes: bytes.dropFirst(headerSize))
        let count = Int(try reader.u16())
        guard count <= maxFields else { throw .tooManyFields }
        var fields = [String: RecordValue](minimumCapacity: count)
        for _ in 0..<count {
            let keyLength = Int(try reader.u8())
            guard keyLength > 0 && keyLength <= maxKey else { throw .badField("key length \(keyLength)") }
            guard let key = String.ifValidUTF8(try reader.take(keyLength)) else {
                throw .badField("key not UTF-8")
            }
            switch try reader.u8() {
            case 0: fields[key] = .int(Int64(bitPattern: try reader.u64()))
            case 1:
                let n = Int(try reader.u32())
                guard let s = String.ifValidUTF8(try reader.take(n)) else {
                    throw .badField("\(key) not UTF-8")
                }
                fields[key] = .string(s)
            case let t: throw .badField("\(key) type \(t)")
            }
        }
        guard reader.isAtEnd else { throw .badField("trailing bytes") }
        return try build(kind, fields)
    }

    private static func build(_ kind: Record.Kind, _ fields: [String: RecordValue]) throws(DecodeError) -> Record {
        func int(_ k: String) throws(DecodeError) -> Int64 {
            guard let v = fields[k] else { throw .missingField(k) }
            guard let i = v.intValue else { throw .badValue(k) }
            return i
        }
        func string(_ k: String) throws(DecodeError) -> String {
            guard let v = fields[k] else { throw .missingField(k) }
            guard let s = v.stringValue else { throw .badValue(k) }
            return s
        }
        func view() throws(DecodeError) -> ConnectionView {
            guard let v = ConnectionView(rawValue: try string("view")) else { throw .badValue("view") }
            return v
        }
        var rest = fields
        switch kind {
        case .handoff:
            return .handoff(connectionID: UInt64(bitPattern: try int("conn")), view: try view(), client: try string("client"))
        case .drain:
            return .drain(
                spreadMilliseconds: try int("spread_ms"), retryAfterMilliseconds: try int("retry_after_ms"),
                handover: fields["handover"]?.intValue == 1)
        case .adoptLive, .liveMoved:
            let h = LiveHandover(
                connectionID: UInt64(bitPattern: try int("conn")), view: try view(), path: try string("path"),
                format: try string("format"), cursor: try int("cursor"), epoch: try string("epoch"),
                silentMilliseconds: try int("silent_ms"), pingAgeMilliseconds: try int("ping_age_ms"),
                ageMilliseconds: try int("age_ms"), framesSent: try int("frames"), bytesSent: try int("bytes"),
                framesDropped: try int("dropped"), client: try string("client"))
            return kind == .adoptLive ? .adoptLive(h) : .liveMoved(h)
        case .workerReady:
            return .workerReady(pid: try int("pid"))
        case .connectionOpened:
            return .connectionOpened(connectionID: UInt64(bitPattern: try int("conn")), view: try view())
        case .connectionClosed:
            let id = UInt64(bitPattern: try int("conn"))
            let v = try view()
            rest["conn"] = nil
            rest["view"] = nil
            return .connectionClosed(connectionID: id, view: v, fields: rest)
        case .log:
            guard let level = LogLevel(rawValue: try string("level")) else { throw .badValue("level") }
            let event = try string("event")
            rest["level"] = nil
            rest["event"] = nil
            return .log(level: level, event: event, fields: rest)
        case .workerGauges:
            var g = WorkerGauges(
                queuedBytes: try int("queued_bytes"), recordsQueued: try int("records_queued"),
                recordsQueuedPeak: try int("records_queued_peak"), recordsDropped: try int("records_dropped"))
            // Optional: absent means none (a worker that does not follow, or an older one).
            if let value = fields["newest_message_id"] {
                guard let n = value.intValue else { throw .badValue("newest_message_id") }
                g.newestMessageID = n
            }
            if let value = fields["replica_lag_ms"] {
                guard let n = value.intValue else { throw .badValue("replica_lag_ms") }
                g.replicaLagMilliseconds = n
            }
            for view in ConnectionView.allCases {
                guard let value = fields[WorkerGauges.connectionsKey(view)] else { continue }
                guard let n = value.intValue, n >= 0 else { throw .badValue(WorkerGauges.connectionsKey(view)) }
                g.connections[view] = n
            }
            return .workerGauges(g)
        }
    }

    private struct Reader {
        var bytes: ArraySlice<UInt8>
        var isAtEnd: Bool { bytes.isEmpty }
        mutating func take(_ n: Int) throws(DecodeError) -> ArraySlice<UInt8> {
            guard n >= 0, bytes.count >= n else { throw .truncated }
            let out = bytes.prefix(n)
            bytes = bytes.dropFirst(n)
            return out
        }
        mutating func u8() throws(DecodeError) -> UInt8 { try take(1).first! }
        mutating func u16() throws(DecodeError) -> UInt16 { try take(2).reduce(0) { $0 << 8 | UInt16($1) } }
        mutating func u32() throws(DecodeError) -> UInt32 { try take(4).reduce(0) { $0 << 8 | UInt32($1) } }
        mutating func u64() throws(DecodeError) -> UInt64 { try take(8).reduce(0) { $0 << 8 | UInt64($1) } }
    }
}
