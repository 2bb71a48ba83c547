import Glibc

/// RFC 3339 timestamps in UTC with milliseconds ("2026-11-26T14:00:00.123Z"), the form stored in
/// `messages.sent_at` and sent in envelopes.
///
/// Parsing accepts every RFC 3339 `date-time` (section 5.6) whose UTC instant lies in years 0000–9999:
/// `T`, `t` or a space between date and time; any number of fraction digits (kept to the millisecond, truncated);
/// `Z`, `z` or a numeric offset from -23:59 to +23:59 (`-00:00` is UTC); a leap second (`:60`) is kept as the last
/// millisecond of its minute. Everything else (a missing offset, a 31st of April, a 29th of February outside a leap
/// year, hour 24, signs, spaces) is refused.
package enum Timestamp {
    /// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants whose year has four digits.
    package static let earliestMilliseconds: Int64 = -62_167_219_200_000
    package static let latestMilliseconds: Int64 = 253_402_300_799_999
    /// The longest text `parse` looks at; a longer one is refused without being scanned.
    package static let maxTextBytes = 64

    /// Formats milliseconds since the Unix epoch; values outside years 0000–9999 are clamped to that range.
    package static func format(unixMilliseconds ms: Int64) -> String {
        let clamped = min(max(ms, earliestMilliseconds), latestMilliseconds)
        // Floor division: the millisecond part of an instant before 1970 is still 0...999.
        var seconds = clamped / 1000
        var millis = clamped % 1000
        if millis < 0 {
            seconds -= 1
            millis += 1000
        }
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = seconds - days * 86400
        let (year, month, day) = civil(fromDays: days)
        // "YYYY-MM-DDTHH:MM:SS.mmmZ": 24 bytes, written in place.
        return String(unsafeUninitializedCapacity: 24) { out in
            func put(_ value: Int64, _ width: Int, at start: Int) {
                var v = value
                for k in stride(from: start + width - 1, through: start, by: -1) {
                    out[k] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v % 10)
                    v /= 10
                }
            }
            put(year, 4, at: 0)
            out[4] = UInt8(ascii: "-")
            put(month, 2, at: 5)
            out[7] = UInt8(ascii: "-")
            put(day, 2, at: 8)
            out[10] = UInt8(ascii: "T")
            put(secondOfDay / 3600, 2, at: 11)
            out[13] = UInt8(ascii: ":")
            put(secondOfDay / 60 % 60, 2, at: 14)
            out[16] = UInt8(ascii: ":")
            put(secondOfDay % 60, 2, at: 17)
            out[19] = UInt8(ascii: ".")
            put(millis, 3, at: 20)
            out[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    package static func nowUnixMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    package static func now() -> String { format(unixMilliseconds: nowUnixMilliseconds()) }

    /// Parses an RFC 3339 date-time to Unix milliseconds (see the type's doc for what is accepted); nil when it is
    /// malformed, names a day that does not exist, or falls outside years 0000–9999 once moved to UTC.
    package static func parse(_ text: String) -> Int64? {
        var scanner = Scanner(bytes: Array(text.utf8.prefix(maxTextBytes + 1)))
        guard scanner.bytes.count <= maxTextBytes else { return nil }
        return scanner.dateTime()
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`, from its published
    /// description).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The inverse of `days(year:month:day:)` (`civil_from_days`).
    static func civil(fromDays z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Reads RFC 3339's grammar over at most `maxTextBytes` bytes; every number it reads has a fixed width, so no
    /// arithmetic here can overflow.
    private struct Scanner {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func digits(_ n: Int) -> Int64? {
            guard i + n <= bytes.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = bytes[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            i += n
            return v
        }

        mutating func expect(_ choices: StaticString) -> Bool {
            guard i < bytes.count else { return false }
            let found = UnsafeBufferPointer(start: choices.utf8Start, count: choices.utf8CodeUnitCount)
                .contains(bytes[i])
            if found { i += 1 }
            return found
        }

        mutating func dateTime() -> Int64? {
            guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
                expect("Tt "), let hour = digits(2), expect(":"), let minute = digits(2), expect(":"),
                let second = digits(2)
            else { return nil }
            guard (1...12).contains(month), (1...Timestamp.daysInMonth(year: year, month: month)).contains(day),
                hour < 24, minute < 60, second <= 60
            else { return nil }
            var millis: Int64 = 0
            if expect(".") {
                var scale: Int64 = 100
                let start = i
                while i < bytes.count, bytes[i] >= 48 && bytes[i] <= 57 {
                    millis += Int64(bytes[i] - 48) * scale
                    scale /= 10
                    i += 1
                }
                guard i > start else { return nil }
            }
            var offsetMinutes: Int64 = 0
            if !expect("Zz") {
                guard i < bytes.count else { return nil }
                let sign: Int64 = bytes[i] == UInt8(ascii: "-") ? -1 : 1
                guard expect("+-"), let oh = digits(2), expect(":"), let om = digits(2), oh < 24, om < 60 else {
                    return nil
                }
                offsetMinutes = sign * (oh * 60 + om)
            }
            guard i == bytes.count else { return nil }
            if second == 60 { millis = 999 }  // a leap second: the last millisecond of its minute
            let days = Timestamp.days(year: year, month: month, day: day)
            let local = (days * 86400 + hour * 3600 + minute * 60 + min(second, 59)) * 1000 + millis
            let utc = local - offsetMinutes * 60_000
            guard (Timestamp.earliestMilliseconds...Timestamp.latestMilliseconds).contains(utc) else { return nil }
            return utc
        }
    }
}
