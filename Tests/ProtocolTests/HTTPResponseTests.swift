import LivefeedProtocol
import Testing

@Suite struct HTTPResponseTests {
    static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    @Test func okResponseHasStatusLineFieldsLengthAndBody() {
        let response = HTTPResponse(status: 200, contentType: "text/plain; charset=utf-8", body: "héllo")
        #expect(
            Self.text(response.encode(keepAlive: true))
                == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n\r\nhéllo")
    }

    @Test func closingConnectionReplacesConnectionFields() {
        let response = HTTPResponse(status: 404, headers: ["Connection": "keep-alive", "X-A": "1"])
        #expect(
            Self.text(response.encode(keepAlive: false))
                == "HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    @Test func noContentHasNeitherLengthNorBody() {
        let response = HTTPResponse(status: 204, headers: ["Content-Length": "3"], body: Array("abc".utf8))
        #expect(Self.text(response.encode(keepAlive: true)) == "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(
            Self.text(response.encode(keepAlive: false)) == "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
    }

    @Test func switchingProtocolsKeepsCallerConnectionAndHasNoLength() {
        let response = HTTPResponse(
            status: 101, headers: ["Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": "x="])
        #expect(
            Self.text(response.encode(keepAlive: true))
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: x=\r\n\r\n")
    }

    @Test func notModifiedKeepsCallerLengthButSendsNoBody() {
        let response = HTTPResponse(status: 304, headers: ["Content-Length": "10"], body: Array("ignored".utf8))
        #expect(
            Self.text(response.encode(keepAlive: true)) == "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
    }

    @Test func headOnlySendsNoBodyAndKeepsCallerLength() {
        let plain = HTTPResponse(status: 200, body: Array("abc".utf8))
        #expect(Self.text(plain.encode(keepAlive: true, headOnly: true)) == "HTTP/1.1 200 OK\r\n\r\n")
        let announced = HTTPResponse(status: 200, headers: ["Content-Length": "3"], body: Array("abc".utf8))
        #expect(
            Self.text(announced.encode(keepAlive: true, headOnly: true))
                == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
    }

    @Test func callerContentLengthIsReplacedByTheBodyLength() {
        let response = HTTPResponse(status: 201, headers: ["content-length": "99"], body: [1, 2])
        #expect(
            response.encode(keepAlive: true) == Array("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n".utf8) + [
                1, 2,
            ])
    }

    @Test func http10KeepAliveIsAnnounced() {
        let response = HTTPResponse(status: 200)
        #expect(
            Self.text(response.encode(keepAlive: true, requestVersionMinor: 0))
                == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
        #expect(
            Self.text(response.encode(keepAlive: false, requestVersionMinor: 0))
                == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    @Test func valuesCannotInjectLinesAndBadNamesAreDropped() {
        let response = HTTPResponse(
            status: 302, headers: ["Location": "/x\r\nSet-Cookie: a=b\u{0}", "Bad Name": "v", "": "v", "X-Ok": "é\t1"])
        #expect(
            Self.text(response.encode(keepAlive: true))
                == "HTTP/1.1 302 Found\r\nLocation: /x  Set-Cookie: a=b \r\nX-Ok: é\t1\r\nContent-Length: 0\r\n\r\n")
    }

    @Test func unknownStatusHasAnEmptyReasonButKeepsTheSpace() {
        #expect(
            Self.text(HTTPResponse(status: 299).encode(keepAlive: true)) == "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n"
        )
        #expect(HTTPResponse.reasonPhrase(429) == "Too Many Requests")
        #expect(HTTPResponse.reasonPhrase(503) == "Service Unavailable")
        #expect(HTTPResponse.reasonPhrase(999) == "")
    }

    @Test func bodyOnlyStatusesAreRecognised() {
        #expect(!HTTPResponse(status: 100).statusAllowsBody)
        #expect(!HTTPResponse(status: 199).statusAllowsBody)
        #expect(!HTTPResponse(status: 204).statusAllowsBody)
        #expect(!HTTPResponse(status: 304).statusAllowsBody)
        #expect(HTTPResponse(status: 200).statusAllowsBody)
        #expect(HTTPResponse(status: 205).statusAllowsBody)
        #expect(HTTPResponse(status: 503).statusAllowsBody)
    }

    @Test func encodedResponseHeadParsesBackAsFields() throws {
        // The response head follows the same field grammar as a request head, so the parser checks its shape.
        var headers: HTTPHeaders = ["Content-Type": "application/json", "Retry-After": "5"]
        headers.add("Host", "h")
        let bytes = HTTPResponse(status: 503, headers: headers, body: Array("{}".utf8)).encode(keepAlive: false)
        let statusLineEnd = try #require(bytes.firstIndex(of: UInt8(ascii: "\n")))
        let asRequest = Array("GET / HTTP/1.1\r\n".utf8) + bytes[(statusLineEnd + 1)...]
        guard case .complete(let head, let end) = feedStream(asRequest) else {
            Issue.record("encoded head does not parse")
            return
        }
        #expect(head.headers["Content-Length"] == "2")
        #expect(head.headers["Connection"] == "close")
        #expect(head.headers["Retry-After"] == "5")
        #expect(Array(asRequest[end...]) == Array("{}".utf8))
    }
}
