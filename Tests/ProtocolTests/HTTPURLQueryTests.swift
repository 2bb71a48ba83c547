import LivefeedProtocol
import Testing

@Suite struct HTTPURLQueryTests {
    static func pairs(_ query: Substring, maxPairs: Int = 64) -> [String]? {
        URLQuery.parse(query, maxPairs: maxPairs)?.map { "\($0.name)=\($0.value)" }
    }

    @Test func percentEscapesAndPlusDecode() {
        #expect(Self.pairs("q=hello%20world+again") == ["q=hello world again"])
        #expect(Self.pairs("a%2Bb=c%2bd") == ["a+b=c+d"])
        #expect(Self.pairs("e=%C3%A9%e2%82%ac") == ["e=é€"])
        #expect(Self.pairs("eq=a%3Db=c") == ["eq=a=b=c"])
    }

    @Test func emptyValuesRepeatedNamesAndEmptyPieces() {
        let parsed = URLQuery.parse("a=&b&&a=2&=v&")
        #expect(parsed?.map(\.name) == ["a", "b", "a", ""])
        #expect(parsed?.map(\.value) == ["", "", "2", "v"])
        #expect(Self.pairs("") == [])
        #expect(Self.pairs("&&&") == [])
    }

    @Test(arguments: ["q=%zz", "q=%", "q=%4", "%g0=1", "q=%00", "q=a\u{0}", "q=%C3", "q=%FF%FE", "ok=1&bad=%2"])
    func invalidEscapesRefuseTheWholeQuery(_ query: String) {
        #expect(URLQuery.parse(query[...]) == nil)
    }

    @Test func pairLimitAllowsExactlyMaxPairs() {
        #expect(Self.pairs("a&b&c", maxPairs: 3)?.count == 3)
        #expect(Self.pairs("a&b&c&d", maxPairs: 3) == nil)
        #expect(Self.pairs("a&&b&&c&&", maxPairs: 3)?.count == 3)
    }

    @Test func nonASCIIInputPassesThrough() {
        #expect(Self.pairs("name=Zoë&x=ü+1") == ["name=Zoë", "x=ü 1"])
    }

    @Test func percentDecodeLeavesPlusAloneUnlessAsked() {
        #expect(URLQuery.percentDecode("a+b%20c", plusAsSpace: false) == "a+b c")
        #expect(URLQuery.percentDecode("a+b%20c", plusAsSpace: true) == "a b c")
        #expect(URLQuery.percentDecode("plain", plusAsSpace: true) == "plain")
        #expect(URLQuery.percentDecode("", plusAsSpace: true) == "")
        #expect(URLQuery.percentDecode("%2f%2F", plusAsSpace: false) == "//")
        #expect(URLQuery.percentDecode("100%", plusAsSpace: false) == nil)
    }

    @Test func substringsOfALargerStringDecode() {
        let target = "/path?after_id=5&limit=10"
        let query = target[target.firstIndex(of: "?")!...].dropFirst()
        #expect(Self.pairs(query) == ["after_id=5", "limit=10"])
    }
}
