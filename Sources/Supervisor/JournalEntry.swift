import LivefeedProtocol

/// One record in journald's form: `FIELD=value` strings for sd_journal_sendv(3). Pure, so the mapping from a
/// record's fields to journald's names can be tested without a journald.
///
/// Every entry carries `MESSAGE` (the event and its fields as one readable line), `PRIORITY` (syslog level),
/// `SYSLOG_IDENTIFIER`, `MESSAGE_ID` (one per kind of event, see `LogEvent`) and `EVENT`, then each field under
/// its journald name: upper case, only A-Z, 0-9 and `_`, never starting with `_` or a digit (journald keeps those
/// for itself), and a few renamed so that a query reads as what it finds (`conn` → `CONN_ID`, `frames` →
/// `DELIVERED_FRAMES`, `dropped` → `DROPPED_FRAMES`, `pid` → `WORKER_PID`).
struct JournalEntry {
    static let identifier = "livefeed"

    /// Record keys whose journald name is not just the key in upper case.
    static let renamed: [String: String] = [
        "conn": "CONN_ID",
        "frames": "DELIVERED_FRAMES",
        "bytes": "DELIVERED_BYTES",
        "dropped": "DROPPED_FRAMES",
        "pid": "WORKER_PID",
    ]

    /// Names this entry sets itself; a record field that would land on one gets a `LIVEFEED_` prefix instead.
    static let reserved: Set<String> = [
        "MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SYSLOG_PID", "EVENT",
        "CODE_FILE", "CODE_LINE", "CODE_FUNC",
    ]

    /// journald refuses field names longer than this.
    static let maxNameLength = 64

    var assignments: [String]

    init(level: LogLevel, event: LogEvent, name: String, fields: [String: RecordValue]) {
        let sorted = fields.sorted { $0.key < $1.key }.filter { !["ts", "level", "event"].contains($0.key) }
        var message = name
        for (key, value) in sorted { message += " \(key)=\(Self.text(value, quoted: true))" }
        assignments = [
            "MESSAGE=\(message)", "PRIORITY=\(level.syslogPriority)", "SYSLOG_IDENTIFIER=\(Self.identifier)",
            "MESSAGE_ID=\(event.messageID)", "EVENT=\(name)",
        ]
        var used = Set<String>()
        for (key, value) in sorted {
            let field = Self.fieldName(key)
            // Two keys that map to one name (say `pid` and `worker_pid`): the first, in key order, is kept.
            guard used.insert(field).inserted else { continue }
            assignments.append("\(field)=\(Self.text(value, quoted: false))")
        }
    }

    /// The journald field name for a record key.
    static func fieldName(_ key: String) -> String {
        if let name = renamed[key] { return name }
        var name = String(
            key.uppercased().unicodeScalars.map { scalar -> Character in
                switch scalar {
                case "A"..."Z", "0"..."9": Character(scalar)
                default: "_"
                }
            })
        if name.isEmpty || name.first == "_" || name.first!.isNumber || reserved.contains(name) {
            name = "LIVEFEED_" + name
        }
        return String(name.prefix(maxNameLength))
    }

    /// A value as text; in MESSAGE, strings with spaces, quotes or nothing in them are quoted.
    static func text(_ value: RecordValue, quoted: Bool) -> String {
        switch value {
        case .int(let i): return String(i)
        case .string(let s):
            guard quoted, s.isEmpty || s.contains(where: { $0 == " " || $0 == "\"" || $0.isNewline }) else { return s }
            var escaped = "\""
            for c in s {
                switch c {
                case "\\": escaped += "\\\\"
                case "\"": escaped += "\\\""
                case _ where c.isNewline: escaped += "\\n"
                default: escaped.append(c)
                }
            }
            return escaped + "\""
        }
    }
}
