import Glibc
import LivefeedProtocol

/// Where structured records go: one JSON object per line on stderr. Each record has `ts`, `level`, `event`
/// and its fields; workers' records gain `worker` and `worker_pid`.
final class Journal {
    private(set) var errorCount = 0

    func emit(_ level: LogLevel, _ event: String, _ fields: [String: RecordValue] = [:]) {
        if level == .error { errorCount += 1 }
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
