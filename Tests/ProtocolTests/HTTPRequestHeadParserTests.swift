import LivefeedProtocol
import Testing

@Suite struct HTTPRequestHeadParserTests {
    @Test func getWithHeadersParsesEveryPart() throws {
        let text =
            "GET /channels/3?after_id=5&format=html HTTP/1.1\r\n"
            + "Host: example.com:8080\r\n"
            + "User-Agent: curl/8.5.0\r\n"
            + "Accept: */*\r\n"
            + "accept: text/html\r\n"
            + "\r\n"
        let head = try #require(completeHead(text))
        #expect(head.method == "GET")
        #expect(head.target == "/channels/3?after_id=5&format=html")
        #expect(head.versionMinor == 1)
        #expect(head.path == "/channels/3")
        #expect(head.queryValue("after_id") == "5")
        #expect(head.queryValue("format") == "html")
        #expect(head.queryValue("missing") == nil)
        #expect(head.headers.count == 4)
        #expect(head.headers["host"] == "example.com:8080")
        #expect(head.headers["ACCEPT"] == "*/*")
        #expect(head.headers.values("Accept") == ["*/*", "text/html"])
        #expect(head.headers.map(\.name) == ["Host", "User-Agent", "Accept", "accept"])
        #expect(head.host == "example.com:8080")
        #expect(head.keepAlive)
        #expect(head.contentLength == nil)
        #expect(!head.isChunked)
        #expect(parseHead(text) == .complete(head, end: text.utf8.count))
    }

    @Test func headEqualsTheHeadBuiltDirectly() throws {
        let head = try #require(
            completeHead("POST /api/messages?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n"))
        let built = try HTTPRequestHead(
            method: "POST", target: "/api/messages?x=1", versionMinor: 1,
            headers: ["Host": "h", "Content-Length": "12"])
        #expect(head == built)
        #expect(head.contentLength == 12)
        var other = built
        other.query = [(name: "x", value: "2")]
        #expect(head != other)
    }

    @Test func fieldValuesLoseSurroundingWhitespaceOnly() throws {
        let text = "GET / HTTP/1.1\r\nHost:h\r\nX-A: \t a  b \t \r\nX-Empty:\r\nX-Blank:   \r\n\r\n"
        let head = try #require(completeHead(text))
        #expect(head.headers["Host"] == "h")
        #expect(head.headers["X-A"] == "a  b")
        #expect(head.headers["X-Empty"] == "")
        #expect(head.headers["X-Blank"] == "")
    }

    @Test func fieldValueBytesDecodeAsUTF8ElseLatin1() throws {
        let utf8 = Array("GET / HTTP/1.1\r\nHost: h\r\nX-Name: Zoë\r\n\r\n".utf8)
        guard case .complete(let head, _) = feedStream(utf8) else {
            Issue.record("incomplete")
            return
        }
        #expect(head.headers["X-Name"] == "Zoë")

        let latin1 = Array("GET / HTTP/1.1\r\nHost: h\r\nX-Name: Zo".utf8) + [0xEB] + Array("\r\n\r\n".utf8)
        guard case .complete(let old, _) = feedStream(latin1) else {
            Issue.record("incomplete")
            return
        }
        #expect(old.headers["X-Name"] == "Zo\u{EB}")
    }

    @Test func leadingEmptyLinesAreSkippedUpToTheBound() {
        let request = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        let allowed = String(repeating: "\r\n", count: RequestHeadParser.maxLeadingEmptyLines) + request
        guard case .complete(let head, let end) = parseHead(allowed) else {
            Issue.record("leading empty lines refused")
            return
        }
        #expect(head.path == "/")
        #expect(end == allowed.utf8.count)

        let tooMany = "\r\n" + allowed
        #expect(parseHead(tooMany) == .failed(.malformedRequestLine))
    }

    @Test func optionsAsteriskIsAccepted() throws {
        let head = try #require(completeHead("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(head.path == "*")
        #expect(head.query.isEmpty)
    }

    @Test func absoluteFormIsReducedToItsPathAndAuthorityWinsOverHost() throws {
        let head = try #require(completeHead("GET HTTP://example.org:81/a%20b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"))
        #expect(head.target == "HTTP://example.org:81/a%20b?q=1")
        #expect(head.path == "/a b")
        #expect(head.queryValue("q") == "1")
        #expect(head.host == "example.org:81")

        let bare = try #require(completeHead("GET https://example.org?q=2 HTTP/1.1\r\nHost: example.org\r\n\r\n"))
        #expect(bare.path == "/")
        #expect(bare.queryValue("q") == "2")
    }

    @Test func pathIsPercentDecodedButPlusStaysPlus() throws {
        let head = try #require(completeHead("GET /a%20b/c+d/%E2%82%AC?q=a+b%2Bc HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(head.path == "/a b/c+d/€")
        #expect(head.queryValue("q") == "a b+c")
    }

    @Test func queryKeepsOrderRepeatsAndEmptyValues() throws {
        let head = try #require(completeHead("GET /s?tag=a&tag=b&empty=&flag&&=v HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(head.query.map(\.name) == ["tag", "tag", "empty", "flag", ""])
        #expect(head.query.map(\.value) == ["a", "b", "", "", "v"])
        #expect(head.queryValue("tag") == "a")
    }

    @Test func http10WithoutHostIsAccepted() throws {
        let head = try #require(completeHead("GET / HTTP/1.0\r\n\r\n"))
        #expect(head.versionMinor == 0)
        #expect(head.host == nil)
    }

    @Test func emptyHostIsAccepted() throws {
        let head = try #require(completeHead("GET / HTTP/1.1\r\nHost:\r\n\r\n"))
        #expect(head.host == "")
    }

    @Test func identicalContentLengthsAgree() throws {
        let repeated = try #require(
            completeHead("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 005\r\n\r\n"))
        #expect(repeated.contentLength == 5)
        let listed = try #require(completeHead("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7 , 7\r\n\r\n"))
        #expect(listed.contentLength == 7)
        let zero = try #require(completeHead("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"))
        #expect(zero.contentLength == 0)
    }

    @Test func chunkedIsRecognisedCaseInsensitively() throws {
        let head = try #require(completeHead("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"))
        #expect(head.isChunked)
        #expect(head.contentLength == nil)
    }

    struct KeepAliveCase: Sendable, CustomStringConvertible {
        var version: String
        var connection: [String]
        var keepAlive: Bool
        var description: String { "\(version) \(connection) → \(keepAlive)" }
    }

    @Test(arguments: [
        KeepAliveCase(version: "1.1", connection: [], keepAlive: true),
        KeepAliveCase(version: "1.1", connection: ["close"], keepAlive: false),
        KeepAliveCase(version: "1.1", connection: ["Keep-Alive, CLOSE"], keepAlive: false),
        KeepAliveCase(version: "1.1", connection: ["upgrade", "close"], keepAlive: false),
        KeepAliveCase(version: "1.1", connection: ["keep-alive"], keepAlive: true),
        KeepAliveCase(version: "1.1", connection: ["closed"], keepAlive: true),
        KeepAliveCase(version: "1.0", connection: [], keepAlive: false),
        KeepAliveCase(version: "1.0", connection: ["keep-alive"], keepAlive: true),
        KeepAliveCase(version: "1.0", connection: ["TE, Keep-Alive"], keepAlive: true),
        KeepAliveCase(version: "1.0", connection: ["keep-alive", "close"], keepAlive: false),
        KeepAliveCase(version: "1.0", connection: ["keep-alive-ish"], keepAlive: false),
    ])
    func keepAliveFollowsVersionAndConnection(_ test: KeepAliveCase) throws {
        let fields = test.connection.map { "Connection: \($0)\r\n" }.joined()
        let head = try #require(completeHead("GET / HTTP/\(test.version)\r\nHost: h\r\n\(fields)\r\n"))
        #expect(head.keepAlive == test.keepAlive)
    }

    @Test func bodyBytesAfterTheHeadAreNotUsed() {
        let head = "POST /api/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n"
        let bytes = Array((head + "BODY").utf8)
        guard case .complete(let parsed, let end) = feedStream(bytes) else {
            Issue.record("incomplete")
            return
        }
        #expect(end == head.utf8.count)
        #expect(parsed.contentLength == 4)
        #expect(Array(bytes[end...]) == Array("BODY".utf8))
    }

    @Test func pipelinedRequestsParseOneAfterAnother() throws {
        let first = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
        let second = "GET /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        let bytes = Array((first + second + "GET /thr").utf8)
        var parser = RequestHeadParser()
        var rest = bytes[...]
        var paths: [String] = []
        while true {
            guard case .complete(let head, let used) = try parser.feed(rest) else { break }
            paths.append(head.path)
            rest = rest.dropFirst(used)
            parser.reset()
        }
        #expect(paths == ["/one", "/two"])
        #expect(Array(rest) == Array("GET /thr".utf8))
    }

    @Test func rawBufferFeedMatchesSliceFeed() throws {
        let bytes = Array("GET /x HTTP/1.1\r\nHost: h\r\n\r\nextra".utf8)
        var parser = RequestHeadParser()
        let progress = try bytes.withUnsafeBytes { raw throws(HTTPHeadError) in try parser.feed(raw) }
        guard case .complete(let head, let used) = progress else {
            Issue.record("incomplete")
            return
        }
        #expect(used == bytes.count - 5)
        #expect(feedStream(bytes) == .complete(head, end: used))
    }

    @Test func emptyChunkNeedsMore() throws {
        var parser = RequestHeadParser()
        guard case .needMore = try parser.feed([UInt8]()[...]) else {
            Issue.record("empty chunk completed")
            return
        }
    }

    @Test func failedParserRepeatsItsErrorUntilReset() throws {
        var parser = RequestHeadParser()
        #expect(throws: HTTPHeadError.malformedRequestLine) { try parser.feed(Array("GET\t".utf8)[...]) }
        #expect(throws: HTTPHeadError.malformedRequestLine) { try parser.feed(Array("GET / HTTP/1.1".utf8)[...]) }
        parser.reset()
        let progress = try parser.feed(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)[...])
        guard case .complete(let head, _) = progress else {
            Issue.record("incomplete after reset")
            return
        }
        #expect(head.path == "/")
    }
}
