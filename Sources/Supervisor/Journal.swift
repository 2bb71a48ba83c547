import CSystemd
import Glibc
import LivefeedProtocol

/// Where structured records go. Under journald, each record is one journal entry with its fields
/// (sd_journal_sendv(3), see `JournalEntry`); otherwise one JSON object per line on stderr with `ts`, `level`,
/// `event` and the fields. Workers' records come through here too, with `worker` and `worker_pid` added, so one
/// `journalctl -u livefeed` shows the whole service.
final class Journal {
    /// Where records are written.
    enum Target: String {
        case stderr, journal
    }

    /// `--log-target`: `auto` picks the journal when stderr is the journal stream systemd connected
    /// (`JOURNAL_STREAM`, see systemd.exec(5)).
    enum Setting: String, CaseIterable {
        case auto, journal, stderr
    }

    let target: Target
    private(set) var errorCount = 0

    init(target: Target = .stderr) { self.target = target }

    /// The target for `setting`: `auto` compares `JOURNAL_STREAM` ("DEVICE:INODE") with stderr's fstat(2).
    static func target(for setting: Setting, journalStream: String?) -> Target {
        switch setting {
        case .journal: return .journal
        case .stderr: return .stderr
        case .auto:
            var info = stat()
            guard let journalStream, fstat(2, &info) == 0 else { return .stderr }
            return streamMatches(journalStream, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
                ? .journal : .stderr
        }
    }

    /// Whether a `JOURNAL_STREAM` value names the file with this device and inode. Another process's stream (a
    /// variable inherited through a shell whose stderr was redirected) does not match.
    static func streamMatches(_ value: String, device: UInt64, inode: UInt64) -> Bool {
        let parts = value.split(separator: ":")
        guard parts.count == 2, let d = UInt64(parts[0]), let i = UInt64(parts[1]) else { return false }
        return d == device && i == inode
    }

    func emit(_ level: LogLevel, _ event: LogEvent, _ fields: [String: RecordValue] = [:]) {
        write(level, event, name: event.rawValue, fields)
    }

    /// A worker's log record, its event as the worker spelled it.
    func emit(_ level: LogLevel, workerEvent name: String, _ fields: [String: RecordValue]) {
        write(level, LogEvent(rawValue: name) ?? .unclassified, name: name, fields)
    }

    private func write(_ level: LogLevel, _ event: LogEvent, name: String, _ fields: [String: RecordValue]) {
        if level == .error { errorCount += 1 }
        // A record journald refused (it is not there after all) still goes somewhere.
        if target == .journal && send(JournalEntry(level: level, event: event, name: name, fields: fields)) { return }
        writeLine(level, name, fields)
    }

    /// sd_journal_sendv(3): one iovec per `FIELD=value`; values may hold newlines.
    private func send(_ entry: JournalEntry) -> Bool {
        var bytes: [UInt8] = []
        var spans: [(start: Int, count: Int)] = []
        for assignment in entry.assignments {
            let start = bytes.count
            bytes.append(contentsOf: assignment.utf8)
            spans.append((start, bytes.count - start))
        }
        return bytes.withUnsafeMutableBytes { raw in
            var vectors = spans.map { iovec(iov_base: raw.baseAddress! + $0.start, iov_len: $0.count) }
            return sd_journal_sendv(&vectors, Int32(vectors.count)) >= 0
        }
    }

    private func writeLine(_ level: LogLevel, _ event: String, _ fields: [String: RecordValue]) {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("ts", Timestamp.now())
        w.field("level", level.rawValue)
        w.field("event", event)
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) where k != "ts" && k != "level" && k != "event" {
            switch v {
            case .int(let i): w.field(k, i)
            case .string(let s): w.field(k, s)
            }
        }
        w.endObject()
        var line = w.bytes
        line.append(UInt8(ascii: "\n"))
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && Glibc.errno == EINTR {
                    continue
                } else {
                    return  // stderr gone or full: a log line is not worth blocking the loop for
                }
            }
        }
    }
}
