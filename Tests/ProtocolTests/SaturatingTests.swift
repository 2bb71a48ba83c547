import Testing

@testable import LivefeedProtocol

struct SaturatingTests {
    @Test func additionClampsAtBothBounds() {
        #expect(Int64.max.saturatingAdd(1) == .max)
        #expect(Int64.min.saturatingAdd(-1) == .min)
        #expect(Int64(5).saturatingAdd(-7) == -2)
        #expect([Int64.max, 1, 1].saturatingSum() == .max)
        #expect([Int64.min, -9].saturatingSum() == .min)
    }

    @Test func multiplicationClampsWithTheSignOfTheResult() {
        #expect(Int64.max.saturatingMultiply(10) == .max)
        #expect(Int64.min.saturatingMultiply(-1) == .max)
        #expect(Int64(-4_000_000_000_000_000_000).saturatingMultiply(10) == .min)
        #expect(Int64(12).saturatingMultiply(-3) == -36)
    }

    @Test(arguments: [
        (Double.nan, Int64(0)), (.infinity, .max), (-.infinity, .min), (9.3e18, .max), (-9.3e18, .min),
        (-9_223_372_036_854_775_807.0 * 100, .min), (-2.7, -2), (41.9, 41),
    ])
    func conversionFromDoubleNeverTraps(_ value: Double, _ expected: Int64) {
        #expect(Int64(clamping: value) == expected)
    }
}

struct HTMLEscapeTests {
    @Test func nulIsShownAsTheReplacementCharacterAndMarkupAsText() {
        #expect(HTMLEscape.escape("a\u{0}b<i>&'\"") == "a\u{FFFD}b&lt;i&gt;&amp;&#39;&quot;")
    }
}
