import LivefeedProtocol
import Testing

@Suite struct HTTPRequestHeadLimitTests {
    /// A head of exactly `size` bytes whose last field pads it out.
    static func head(ofSize size: Int) -> String {
        let prefix = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: "
        let suffix = "\r\n\r\n"
        return prefix + String(repeating: "p", count: size - prefix.utf8.count - suffix.utf8.count) + suffix
    }

    @Test func headOfExactlyMaxBytesIsAccepted() {
        let limits = RequestHeadParser.Limits(maxBytes: 200)
        let text = Self.head(ofSize: 200)
        #expect(text.utf8.count == 200)
        guard case .complete(_, let end) = parseHead(text, limits: limits) else {
            Issue.record("refused a head of exactly maxBytes")
            return
        }
        #expect(end == 200)
        #expect(parseHead(Self.head(ofSize: 201), limits: limits) == .failed(.headTooLarge))
    }

    @Test func defaultMaxBytesIs8192() {
        guard case .complete = parseHead(Self.head(ofSize: 8192)) else {
            Issue.record("refused 8192 bytes")
            return
        }
        #expect(parseHead(Self.head(ofSize: 8193)) == .failed(.headTooLarge))
    }

    @Test func leadingEmptyLinesCountTowardsMaxBytes() {
        let limits = RequestHeadParser.Limits(maxBytes: 100)
        #expect(parseHead("\r\n" + Self.head(ofSize: 99), limits: limits) == .failed(.headTooLarge))
    }

    @Test func oversizedHeadFailsAsSoonAsItPassesTheLimitWithoutBuffering() {
        let chunk = Array(repeating: UInt8(ascii: "a"), count: 1024)
        var parser = RequestHeadParser()
        var fed = 0
        var failure: HTTPHeadError?
        do {
            _ = try parser.feed(Array("GET / HTTP/1.1\r\nX-Huge: ".utf8)[...])
            while fed < 1024 {
                _ = try parser.feed(chunk[...])
                fed += 1
            }
        } catch {
            failure = error
        }
        #expect(failure == .headTooLarge)
        // 24 bytes of request + 8 chunks = 8216 > 8192: the eighth chunk is the one that crosses.
        #expect(fed == 7)
    }

    @Test func headerCountLimitAllowsExactlyMaxHeaderCount() {
        let limits = RequestHeadParser.Limits(maxHeaderCount: 4)
        let four = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        guard case .complete(let head, _) = parseHead(four, limits: limits) else {
            Issue.record("refused maxHeaderCount fields")
            return
        }
        #expect(head.headers.count == 4)
        let five = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"
        #expect(parseHead(five, limits: limits) == .failed(.tooManyHeaders))
    }

    @Test func tooManyHeadersFailsOnTheFirstByteOfTheExtraField() {
        let limits = RequestHeadParser.Limits(maxHeaderCount: 2)
        #expect(parseHead("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB", limits: limits) == .failed(.tooManyHeaders))
        #expect(parseHead("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n", limits: limits) == .needMore)
    }

    @Test func defaultHeaderCountIs64() {
        let fields = (1..<64).map { "X-\($0): v\r\n" }.joined()
        guard case .complete = parseHead("GET / HTTP/1.1\r\nHost: h\r\n\(fields)\r\n") else {
            Issue.record("refused 64 fields")
            return
        }
        #expect(parseHead("GET / HTTP/1.1\r\nHost: h\r\n\(fields)X-64: v\r\n\r\n") == .failed(.tooManyHeaders))
    }

    @Test func targetOfExactlyMaxTargetBytesIsAccepted() throws {
        let target = "/" + String(repeating: "t", count: 4095)
        let head = try #require(completeHead("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(head.target.utf8.count == 4096)
        #expect(parseHead("GET \(target)t HTTP/1.1\r\nHost: h\r\n\r\n") == .failed(.uriTooLong))
    }

    @Test func longTargetFailsBeforeTheHeadIsComplete() {
        let limits = RequestHeadParser.Limits(maxTargetBytes: 10)
        #expect(parseHead("GET /123456789", limits: limits) == .needMore)
        #expect(parseHead("GET /1234567890", limits: limits) == .failed(.uriTooLong))
        #expect(feedByteByByte(Array("GET /1234567890".utf8), limits: limits) == .failed(.uriTooLong))
    }

    @Test func queryPairLimitIsEnforced() {
        let limits = RequestHeadParser.Limits(maxQueryPairs: 3)
        guard case .complete(let head, _) = parseHead("GET /?a&b&c HTTP/1.1\r\nHost: h\r\n\r\n", limits: limits) else {
            Issue.record("refused maxQueryPairs pairs")
            return
        }
        #expect(head.query.count == 3)
        #expect(parseHead("GET /?a&b&c&d HTTP/1.1\r\nHost: h\r\n\r\n", limits: limits) == .failed(.invalidTarget))
    }
}
