import Testing

@testable import LivefeedProtocol

struct TimestampTests {
    @Test(arguments: [
        // The issue's case: half a second past the epoch, one minute east of UTC.
        ("1970-01-01T00:00:00.5+00:01", "1969-12-31T23:59:00.500Z"),
        ("1970-01-01T00:00:00.5-00:01", "1970-01-01T00:01:00.500Z"),
        ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
        ("1969-12-31T23:59:59.001Z", "1969-12-31T23:59:59.001Z"),
        ("1900-03-01T00:00:00Z", "1900-03-01T00:00:00.000Z"),
        ("2024-02-29T23:30:00-23:59", "2024-03-01T23:29:00.000Z"),
        ("2024-03-01T00:10:00+23:59", "2024-02-29T00:11:00.000Z"),
        ("2000-02-29T12:00:00Z", "2000-02-29T12:00:00.000Z"),
        ("2026-11-26t14:00:00.123456789z", "2026-11-26T14:00:00.123Z"),
        ("2026-11-26 14:00:00.1-00:00", "2026-11-26T14:00:00.100Z"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999Z"),
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        ("0001-01-01T00:00:00+23:59", "0000-12-31T00:01:00.000Z"),
    ])
    func everyFormNormalisesToUTCMilliseconds(_ input: String, _ expected: String) throws {
        let ms = try #require(Timestamp.parse(input))
        #expect(Timestamp.format(unixMilliseconds: ms) == expected)
        #expect(Timestamp.parse(expected) == ms)
    }

    @Test(arguments: [
        "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z",
        "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+00:60", "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00ZZ", "+2026-01-01T00:00:00Z",
        "-0001-01-01T00:00:00Z", "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", " 2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00.\(String(repeating: "1", count: 60))Z", "2026-1-01T00:00:00Z", "２０２６-01-01T00:00:00Z",
    ])
    func whatIsNotRFC3339IsRefused(_ input: String) {
        #expect(Timestamp.parse(input) == nil)
    }

    @Test func everyMillisecondAroundTheEpochRoundTrips() {
        for ms in Int64(-3000)...3000 {
            #expect(Timestamp.parse(Timestamp.format(unixMilliseconds: ms)) == ms)
        }
    }

    @Test func civilDatesRoundTripOverFourHundredYears() {
        var days = Timestamp.days(year: 1800, month: 1, day: 1)
        let end = Timestamp.days(year: 2200, month: 1, day: 1)
        var previous = (year: Int64(1799), month: Int64(12), day: Int64(31))
        while days < end {
            let date = Timestamp.civil(fromDays: days)
            #expect(Timestamp.days(year: date.year, month: date.month, day: date.day) == days)
            let nextDay = date.day == previous.day + 1 && date.month == previous.month
            let nextMonth = date.day == 1 && (date.month == previous.month + 1 || date.month == 1)
            #expect(nextDay || nextMonth)
            previous = date
            days += 1
        }
    }

    @Test func formattingClampsWhatNoFourDigitYearHolds() {
        #expect(Timestamp.format(unixMilliseconds: .max) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.format(unixMilliseconds: .min) == "0000-01-01T00:00:00.000Z")
    }
}
