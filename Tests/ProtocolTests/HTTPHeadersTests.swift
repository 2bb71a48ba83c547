import LivefeedProtocol
import Testing

@Suite struct HTTPHeadersTests {
    @Test func lookupIsCaseInsensitiveAndReturnsTheFirstValue() {
        let headers: HTTPHeaders = ["Accept": "a", "X-One": "1", "accept": "b"]
        #expect(headers["ACCEPT"] == "a")
        #expect(headers.values("accept") == ["a", "b"])
        #expect(headers["missing"] == nil)
        #expect(headers.values("missing") == [])
        #expect(headers.contains("x-one"))
        #expect(headers.count == 3)
    }

    @Test func iterationKeepsReceivedOrderAndSpelling() {
        var headers = HTTPHeaders([(name: "B", value: "2"), (name: "a", value: "1")])
        headers.add("B", "3")
        #expect(headers.map(\.name) == ["B", "a", "B"])
        #expect(headers.map(\.value) == ["2", "1", "3"])
    }

    @Test func containsTokenSearchesEveryListElementOfEveryLine() {
        let headers: HTTPHeaders = ["Connection": "keep-alive ,\tUpgrade", "connection": ",, TE ,"]
        #expect(headers.containsToken("upgrade", in: "CONNECTION"))
        #expect(headers.containsToken("Keep-Alive", in: "Connection"))
        #expect(headers.containsToken("te", in: "Connection"))
        #expect(!headers.containsToken("close", in: "Connection"))
        #expect(!headers.containsToken("keep", in: "Connection"))
        #expect(!headers.containsToken("", in: "Connection"))
        #expect(!headers.containsToken("upgrade", in: "Upgrade"))
    }

    /// The scanning `listContains` agrees with splitting into elements, over every short value built from the
    /// characters that matter (separators, whitespace, case, a token's letters).
    @Test func listContainsAgreesWithSplittingTheList() {
        let alphabet: [Character] = [",", " ", "\t", "a", "A", "b", "-"]
        var values = [""]
        for _ in 0..<5 { values += values.flatMap { v in alphabet.map { v + String($0) } }.filter { $0.count <= 5 } }
        values = Array(Set(values))
        for value in values {
            for token in ["a", "ab", "a-b", "A", "b", ""] {
                let split = HTTPSyntax.listElements(value).contains { HTTPSyntax.equalsIgnoringCase($0, token) }
                #expect(HTTPSyntax.listContains(value, token: token) == split, "\(value.debugDescription) \(token)")
            }
        }
    }

    @Test func removeAndSetAffectEveryLineOfThatName() {
        var headers: HTTPHeaders = ["A": "1", "B": "2", "a": "3", "C": "4"]
        headers.set("a", "new")
        #expect(headers == ["A": "new", "B": "2", "C": "4"])
        headers.set("D", "5")
        #expect(headers == ["A": "new", "B": "2", "C": "4", "D": "5"])
        headers.remove("b")
        #expect(headers == ["A": "new", "C": "4", "D": "5"])
        #expect(!headers.isEmpty)
    }

    @Test func equalityIgnoresNameCaseButNotOrderOrValueCase() {
        let upper: HTTPHeaders = ["A": "x"]
        let ordered: HTTPHeaders = ["A": "1", "B": "2"]
        #expect(upper == ["a": "x"])
        #expect(upper != ["A": "X"])
        #expect(ordered != ["B": "2", "A": "1"])
        #expect(HTTPHeaders() == [:])
        #expect(upper != [:])
    }
}
