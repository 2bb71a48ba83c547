// libFuzzer entry point for every parser that sees bytes from outside a process. Built by scripts/fuzz with the
// Protocol sources in the same module (`swiftc -sanitize=fuzzer,address -parse-as-library`), never by SwiftPM, so
// ordinary builds are untouched. The target is chosen by LIVEFEED_FUZZ_TARGET; each one checks what must hold
// besides "no trap": limits respected, consumed ≤ given, feeding in two pieces equals feeding at once, and
// decode → encode → decode round trips.
import Foundation

enum FuzzTarget: String, CaseIterable {
    case head, websocket, record, ingest, query, timestamp, json
}

let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["LIVEFEED_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(
            Data("LIVEFEED_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue))\n".utf8))
        exit(2)
    }
    return target
}()

/// A failed property: abort, so libFuzzer saves the input as a crash.
func require(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String) {
    if !condition() {
        FileHandle.standardError.write(Data("property failed: \(what())\n".utf8))
        abort()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func livefeedFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    switch selectedTarget {
    case .head: fuzzHead(bytes)
    case .websocket: fuzzWebSocket(bytes)
    case .record: fuzzRecord(bytes)
    case .ingest: fuzzIngest(bytes)
    case .query: fuzzQuery(bytes)
    case .timestamp: fuzzTimestamp(bytes)
    case .json: fuzzJSON(bytes)
    }
    return 0
}

/// Where to split an input in two: taken from its first byte, so the fuzzer explores split points too.
func splitPoint(_ bytes: [UInt8]) -> Int { bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1) }

enum HeadOutcome: Equatable {
    case needMore
    case complete(HTTPRequestHead, end: Int)
    case failed(HTTPHeadError)
}

func feedHead(_ pieces: [ArraySlice<UInt8>], limits: RequestHeadParser.Limits) -> HeadOutcome {
    var parser = RequestHeadParser(limits: limits)
    var offset = 0
    for piece in pieces {
        do {
            switch try parser.feed(piece) {
            case .needMore: offset += piece.count
            case .complete(let head, let used):
                require(used >= 0 && used <= piece.count, "head used \(used) of \(piece.count)")
                return .complete(head, end: offset + used)
            }
        } catch {
            return .failed(error)
        }
    }
    return .needMore
}

func fuzzHead(_ bytes: [UInt8]) {
    let limits = RequestHeadParser.Limits(maxBytes: 2048)
    let whole = feedHead([bytes[...]], limits: limits)
    let cut = splitPoint(bytes)
    let split = feedHead([bytes[..<cut], bytes[cut...]], limits: limits)
    require(whole == split, "head fed at once \(whole) vs split at \(cut) \(split)")
    if case .complete(let head, let end) = whole {
        require(end <= limits.maxBytes, "a complete head of \(end) bytes past the limit")
        require(head.query.count <= limits.maxQueryPairs, "\(head.query.count) query pairs")
        require(head.path.hasPrefix("/") || head.path == "*", "path \(head.path)")
    }
}

func fuzzWebSocket(_ bytes: [UInt8]) {
    let limits = WebSocketConnectionState.Limits(maxFrameBytes: 512, maxMessageBytes: 1024)
    var once = WebSocketConnectionState(limits: limits)
    let whole = once.receive(bytes)
    var twice = WebSocketConnectionState(limits: limits)
    let cut = splitPoint(bytes)
    let split = twice.receive(Array(bytes[..<cut])) + twice.receive(Array(bytes[cut...]))
    require(whole == split, "frames fed at once vs split at \(cut)")
    for action in whole {
        switch action {
        case .message(let opcode, let payload):
            require(payload.count <= limits.maxMessageBytes, "message of \(payload.count) bytes")
            if opcode == .text { require(String(validating: payload, as: UTF8.self) != nil, "invalid UTF-8 text") }
        case .pong(let payload): require(payload.count <= 125, "pong of \(payload.count) bytes")
        case .send, .closeConnection: break
        }
    }
    let closes = whole.filter { if case .closeConnection = $0 { true } else { false } }
    require(closes.count <= 1, "\(closes.count) closes")
    if let last = closes.first { require(whole.last == last, "actions after the close") }
}

func fuzzRecord(_ bytes: [UInt8]) {
    if let length = try? RecordCodec.frameLength(bytes[...]) { require(length >= 0, "frame length \(length)") }
    guard let record = try? RecordCodec.decode(bytes[...]) else { return }
    let encoded = RecordCodec.encode(record)
    guard let again = try? RecordCodec.decode(encoded[...]) else {
        require(false, "a decoded record does not decode once re-encoded: \(record)")
        return
    }
    require(again == record, "record round trip: \(record) vs \(again)")
}

func fuzzIngest(_ bytes: [UInt8]) {
    guard case .success(let messages) = IngestParser.parse(bytes, maxMessages: 50, allowKey: true) else { return }
    require(!messages.isEmpty && messages.count <= 50, "\(messages.count) messages")
    for m in messages {
        require((1...16384).contains(m.text.utf8.count), "text of \(m.text.utf8.count) bytes")
        for ref in [m.channel, m.user] {
            switch ref {
            case .id(let id): require(id >= 1, "id \(id)")
            case .name(let name):
                require((1...64).contains(name.utf8.count), "name of \(name.utf8.count) bytes")
                require(!name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "control in a name")
            }
        }
        if let sentAt = m.sentAt {
            let ms = Timestamp.parse(sentAt)
            require(ms != nil && Timestamp.format(unixMilliseconds: ms!) == sentAt, "stored sent_at \(sentAt)")
        }
        if let key = m.key { require(IdempotencyKey.validated(key) == key, "key \(key)") }
    }
    _ = IdempotencyKey.fingerprint(messages)
}

func fuzzQuery(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    if let pairs = URLQuery.parse(text[...], maxPairs: 16) {
        require(pairs.count <= 16, "\(pairs.count) pairs")
    }
    _ = URLQuery.percentDecode(text[...], plusAsSpace: true)
    _ = MediaType.isJSON(text)
    _ = IdempotencyKey.validated(text)
}

func fuzzTimestamp(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let ms = Timestamp.parse(text) else { return }
    require((Timestamp.earliestMilliseconds...Timestamp.latestMilliseconds).contains(ms), "instant \(ms)")
    let formatted = Timestamp.format(unixMilliseconds: ms)
    require(Timestamp.parse(formatted) == ms, "\(text) → \(ms) → \(formatted) does not parse back")
}

/// The JSON parser under IngestParser: an error points inside the input; what it accepts was UTF-8 and nested no
/// deeper than the limit, parses the same with whitespace around it, and, written out again by JSONWriter, parses
/// back to the same value (numbers to the same Double, and the same integer when they had one).
func fuzzJSON(_ bytes: [UInt8]) {
    let value: JSONValue
    do {
        value = try JSONValue.parse(bytes)
    } catch {
        require(error.offset >= 0 && error.offset <= bytes.count, "error at \(error.offset) of \(bytes.count)")
        return
    }
    require(String(validating: bytes, as: UTF8.self) != nil, "accepted bytes that are not UTF-8")
    let depth = jsonDepth(value)
    require(depth <= JSONValue.maxDepth, "nested \(depth) deep")
    let spaced = try? JSONValue.parse(Array(" \r\n\t".utf8) + bytes + Array("\t\n\r ".utf8))
    require(spaced.map { sameJSON(value, $0) } ?? false, "whitespace around the text changed it")
    guard depth <= 63 else { return }  // JSONWriter nests 63 deep at most
    var writer = JSONWriter()
    writeJSON(value, to: &writer)
    guard let again = try? JSONValue.parse(writer.bytes) else {
        require(false, "JSONWriter's text does not parse: \(String(decoding: writer.bytes, as: UTF8.self))")
        return
    }
    require(sameJSON(value, again), "round trip through JSONWriter changed the value")
}

func jsonDepth(_ value: JSONValue) -> Int {
    switch value {
    case .array(let elements): 1 + (elements.map(jsonDepth).max() ?? 0)
    case .object(let object): 1 + (object.members.map { jsonDepth($0.value) }.max() ?? 0)
    case .null, .bool, .number, .string: 0
    }
}

func writeJSON(_ value: JSONValue, to w: inout JSONWriter) {
    switch value {
    case .null: w.null()
    case .bool(let b): w.value(b)
    case .number(let n):
        // A Double's description ("1e-05", "1.5", "-0.0") is JSON; whole numbers go out as integers.
        if let i = n.integer { w.value(i) } else { w.raw(Array("\(n.double)".utf8)) }
    case .string(let s): w.value(s)
    case .array(let elements):
        w.beginArray()
        for e in elements { writeJSON(e, to: &w) }
        w.endArray()
    case .object(let object):
        w.beginObject()
        for m in object.members {
            w.key(m.name)
            writeJSON(m.value, to: &w)
        }
        w.endObject()
    }
}

/// Equal values, strings compared scalar by scalar (String's == would equate canonically equivalent ones). A
/// number without an integer may come back with one: 1.0000000000000001 is written as its Double, 1.0.
func sameJSON(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)): return x.double == y.double && (x.integer == nil || x.integer == y.integer)
    case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { sameJSON($0, $1) }
    case (.object(let x), .object(let y)):
        return x.count == y.count && zip(x.members, y.members).allSatisfy {
            $0.name.unicodeScalars.elementsEqual($1.name.unicodeScalars) && sameJSON($0.value, $1.value)
        }
    default: return false
    }
}

/// With LIVEFEED_FUZZ_WRITE_RECORDS=DIR, writes one encoded record of every kind into DIR and exits: the seed
/// corpus of the record target is what real workers and supervisors send (scripts/fuzz --record-seeds).
@_cdecl("LLVMFuzzerInitialize")
public func livefeedFuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    guard let directory = ProcessInfo.processInfo.environment["LIVEFEED_FUZZ_WRITE_RECORDS"] else { return 0 }
    let records: [Record] = [
        .handoff(connectionID: 42, view: .channel, client: "127.0.0.1:50000"),
        .drain(spreadMilliseconds: 1000, retryAfterMilliseconds: 250),
        .workerReady(pid: 1234),
        .connectionOpened(connectionID: 42, view: .metrics),
        .connectionClosed(
            connectionID: 42, view: .channel,
            fields: ["reason": .string("slow_consumer"), "dropped": .int(12), "live_view": .string("channel")]),
        .log(level: .warning, event: "connection_refused", fields: ["reason": .string("origin_not_allowed"), "status": .int(403)]),
        .workerGauges(WorkerGauges(connections: [.channel: 3, .http: 1], queuedBytes: 4096, recordsQueued: 2, recordsQueuedPeak: 9, recordsDropped: 1)),
    ]
    for (i, record) in records.enumerated() {
        _ = FileManager.default.createFile(atPath: "\(directory)/record-\(i)", contents: Data(RecordCodec.encode(record)))
    }
    exit(0)
}
