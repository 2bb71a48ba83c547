/// Formats timestamps as IMF-fixdate, the form RFC 9110 §5.6.7 requires for Date and other date fields.
///
/// Pure: the caller passes the time, e.g. `Date` in every response an origin server with a clock sends
/// (RFC 9110 §6.6.1).
package enum HTTPDate {
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// E.g. 784111777 → "Sun, 06 Nov 1994 08:49:37 GMT". Seconds are UTC since 1970-01-01, leap seconds ignored.
    package static func format(secondsSince1970 seconds: Int) -> String {
        let days = seconds.floorDiv(86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilDate(daysSince1970: days)
        // 1970-01-01 was a Thursday (index 4).
        let weekday = weekdays[(days % 7 + 7 + 4) % 7]
        return "\(weekday), \(pad(day)) \(months[month - 1]) \(pad(year, 4)) "
            + "\(pad(secondOfDay / 3600)):\(pad(secondOfDay / 60 % 60)):\(pad(secondOfDay % 60)) GMT"
    }

    /// Proleptic Gregorian (year, month 1...12, day 1...31) of a day count since 1970-01-01.
    ///
    /// Counts in 400-year eras that start on 1 March, so that the leap day is the last day of its year and
    /// month lengths repeat with a simple pattern.
    private static func civilDate(daysSince1970: Int) -> (year: Int, month: Int, day: Int) {
        // 719468 days separate 0000-03-01 from 1970-01-01; an era is 146097 days.
        let daysSinceEpoch0 = daysSince1970 + 719_468
        let era = daysSinceEpoch0.floorDiv(146_097)
        let dayOfEra = daysSinceEpoch0 - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // 0 = March … 11 = February
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func pad(_ value: Int, _ width: Int = 2) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

extension Int {
    /// Division rounding towards negative infinity.
    fileprivate func floorDiv(_ divisor: Int) -> Int {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
