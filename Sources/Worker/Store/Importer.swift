import Glibc
import LivefeedProtocol

/// `livefeed import FILE.jsonl`: one JSON message object per line, stored in batches (one transaction each).
/// Bad lines are reported with their line numbers and skipped; good lines are never lost because of a bad one.
struct Importer {
    let store: MessageStore
    /// The database's path as the summary names it.
    var database = ""
    var batchSize = 500
    var maxLineBytes = 1 << 20
    let clock = MonotonicClock()

    struct Summary {
        var lines = 0
        var blank = 0
        var stored = 0
        /// Lines whose key was already stored: skipped.
        var alreadyStored = 0
        var bad = 0
    }

    /// Reads `fd` to the end. Progress goes to stderr at most once a second.
    func run(reading fd: FileDescriptor, name: String) throws -> Summary {
        var summary = Summary()
        var batch: [(line: Int, message: NewMessage)] = []
        var line: [UInt8] = []
        var lineTooLong = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let started = clock.nowMilliseconds
        var lastProgress = started

        func finishLine() throws {
            summary.lines += 1
            defer {
                line.removeAll(keepingCapacity: true)
                lineTooLong = false
            }
            if lineTooLong {
                report(&summary, summary.lines, "line_too_long", "longer than \(maxLineBytes) bytes")
                return
            }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {  // blank lines are fine, and counted
                summary.blank += 1
                return
            }
            if line.first(where: { $0 != 0x20 && $0 != 0x09 }) == UInt8(ascii: "[") {
                report(&summary, summary.lines, "invalid_message", "expected one JSON object per line, not an array")
                return
            }
            switch IngestParser.parse(line, maxMessages: 1, allowKey: true) {
            case .failure(let f): report(&summary, summary.lines, f.code, f.message)
            case .success(let messages): batch.append((summary.lines, messages[0]))
            }
            if batch.count >= batchSize { try flush(&batch, &summary) }
        }

        while true {
            let n: Int
            switch try buffer.withUnsafeMutableBytes({ raw throws(SystemError) in try fd.read(into: raw) }) {
            case .done(let count): n = count
            case .wouldBlock: continue
            }
            if n == 0 { break }
            var start = 0
            for i in 0..<n where buffer[i] == 0x0A {
                append(buffer[start..<i], to: &line, tooLong: &lineTooLong)
                try finishLine()
                start = i + 1
            }
            append(buffer[start..<n], to: &line, tooLong: &lineTooLong)
            let now = clock.nowMilliseconds
            if now - lastProgress >= 1000 {
                lastProgress = now
                progress(summary, elapsed: now - started, final: false)
            }
        }
        if !line.isEmpty || lineTooLong { try finishLine() }
        try flush(&batch, &summary)
        progress(summary, elapsed: clock.nowMilliseconds - started, final: true)
        return summary
    }

    private func append(_ bytes: ArraySlice<UInt8>, to line: inout [UInt8], tooLong: inout Bool) {
        guard !tooLong else { return }
        if line.count + bytes.count > maxLineBytes {
            tooLong = true
            line.removeAll()
        } else {
            line += bytes
        }
    }

    /// Stores a batch in one transaction; if the database refuses it because of one item (an unknown id), stores
    /// the items one by one so only the bad ones are skipped.
    private func flush(_ batch: inout [(line: Int, message: NewMessage)], _ summary: inout Summary) throws {
        guard !batch.isEmpty else { return }
        defer { batch.removeAll(keepingCapacity: true) }
        let now = Timestamp.nowUnixMilliseconds()
        func store(_ messages: [NewMessage]) throws {
            let result = try self.store.ingest(messages, requestKey: nil, now: now)
            summary.stored += result.ids.count - result.skipped
            summary.alreadyStored += result.skipped
        }
        do {
            try store(batch.map(\.message))
        } catch is IngestError {
            for item in batch {
                do {
                    try store([item.message])
                } catch let e as IngestError {
                    switch e {
                    case .unknownChannel(let id): report(&summary, item.line, "unknown_channel", "no channel with id \(id)")
                    case .unknownUser(let id): report(&summary, item.line, "unknown_user", "no user with id \(id)")
                    case .keyReused(let key):
                        report(&summary, item.line, "key_reused", "key \(key) was stored with other content")
                    }
                }
            }
        }
    }

    private func report(_ summary: inout Summary, _ line: Int, _ code: String, _ message: String) {
        summary.bad += 1
        say("line \(line): \(code): \(message)")
    }

    private func progress(_ s: Summary, elapsed: UInt64, final: Bool) {
        let rate = elapsed > 0 ? Int(Double(s.lines) * 1000 / Double(elapsed)) : s.lines
        let counts = "\(s.lines) lines read (\(s.blank) blank), \(s.stored) stored, \(s.alreadyStored) already stored, "
            + "\(s.bad) bad (\(rate) lines/s)"
        say(final ? "done: \(counts) in \(database)" : counts)
    }
}
