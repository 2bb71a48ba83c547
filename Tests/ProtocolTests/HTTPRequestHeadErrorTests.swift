import LivefeedProtocol
import Testing

@Suite struct HTTPRequestHeadErrorTests {
    struct BadHead: Sendable, CustomStringConvertible {
        var bytes: [UInt8]
        var error: HTTPHeadError

        init(_ text: String, _ error: HTTPHeadError) {
            bytes = Array(text.utf8)
            self.error = error
        }

        init(bytes: [UInt8], _ error: HTTPHeadError) {
            self.bytes = bytes
            self.error = error
        }

        var description: String { "\(String(decoding: bytes, as: UTF8.self).debugDescription) → \(error)" }
    }

    static let host = "Host: h\r\n"

    static let requestLines: [BadHead] = [
        BadHead("GET /\r\n\r\n", .malformedRequestLine),
        BadHead("GET  / HTTP/1.1\r\n\r\n", .malformedRequestLine),
        BadHead("GET / HTTP/1.1 \r\n\r\n", .malformedRequestLine),
        BadHead("GET /  HTTP/1.1\r\n\r\n", .malformedRequestLine),
        BadHead(" GET / HTTP/1.1\r\n\r\n", .malformedRequestLine),
        BadHead("GET\t/ HTTP/1.1\r\n\r\n", .malformedRequestLine),
        BadHead("GET /\tHTTP/1.1\r\n\r\n", .malformedRequestLine),
        BadHead("G(T / HTTP/1.1\r\n\r\n", .malformedRequestLine),
        BadHead("GET / http/1.1\r\n\r\n", .malformedRequestLine),
        BadHead("GET / HTTP/11\r\n\r\n", .malformedRequestLine),
        BadHead("GET / HTTP/1.x\r\n\r\n", .malformedRequestLine),
        BadHead("GET / HTTP/1.10\r\n\r\n", .malformedRequestLine),
        BadHead("GET HTTP/1.1\r\n\r\n", .malformedRequestLine),
        BadHead("/ HTTP/1.1\r\n\r\n", .malformedRequestLine),
        BadHead("GET / HTTP/1.2\r\n\(host)\r\n", .unsupportedVersion),
        BadHead("GET / HTTP/2.0\r\n\(host)\r\n", .unsupportedVersion),
        BadHead("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", .unsupportedVersion),
        BadHead("GET / HTTP/0.9\r\n\(host)\r\n", .unsupportedVersion),
    ]

    static let targets: [BadHead] = [
        BadHead("GET foo HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET * HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("OPTIONS *x HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET /a#frag HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET /café HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead(bytes: Array("GET /a".utf8) + [0x7F] + Array(" HTTP/1.1\r\n\r\n".utf8), .invalidTarget),
        BadHead(bytes: Array("GET /a".utf8) + [0x00] + Array(" HTTP/1.1\r\n\r\n".utf8), .invalidTarget),
        BadHead("GET /%zz HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET /%2 HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET /a%00b HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET /%FF HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET /?q=%G1 HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET /?q=%00 HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("CONNECT example.com:443 HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET ftp://example.com/ HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET http:///x HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET http://user@example.com/ HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
        BadHead("GET http:/example.com/ HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
    ]

    static let fieldLines: [BadHead] = [
        BadHead("GET / HTTP/1.1\r\nHost : h\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n\(host)NoColon\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n\(host): value\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n\(host)X-A: a\r\n folded\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n\(host)X-A: a\r\n\tfolded\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n \(host)\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n\(host)X[A]: a\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n\(host)X-A: a\u{0}b\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n\(host)X-A: a\u{1}b\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n\(host)X-A: a\u{7F}\r\n\r\n", .malformedHeader),
        BadHead("GET / HTTP/1.1\r\n\(host)X-A: a\u{1B}[31m\r\n\r\n", .malformedHeader),
    ]

    static let lineEndings: [BadHead] = [
        BadHead("\n", .invalidLineEnding),
        BadHead("\r\r\n", .invalidLineEnding),
        BadHead("GET / HTTP/1.1\n\(host)\r\n", .invalidLineEnding),
        BadHead("GET / HTTP/1.1\r\r\n\(host)\r\n", .invalidLineEnding),
        BadHead("GET / HTTP/1.1\r\nHost: h\n\r\n", .invalidLineEnding),
        BadHead("GET / HTTP/1.1\r\nHost: h\r\n\n", .invalidLineEnding),
        BadHead("GET / HTTP/1.1\r\nHost: h\r\n\rX", .invalidLineEnding),
        BadHead("GET / HTTP/1.1\r\nX-A: a\rb\r\n\(host)\r\n", .invalidLineEnding),
        BadHead("GET / HTTP/1.1\r\nX-A\n\r\n", .invalidLineEnding),
    ]

    static let hosts: [BadHead] = [
        BadHead("GET / HTTP/1.1\r\n\r\n", .invalidHost),
        BadHead("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", .invalidHost),
        BadHead("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", .invalidHost),
        BadHead("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", .invalidHost),
        BadHead("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", .invalidHost),
        BadHead("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", .invalidHost),
        BadHead("GET / HTTP/1.1\r\nHost: bücher.example\r\n\r\n", .invalidHost),
    ]

    static let framing: [BadHead] = [
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: abc\r\n\r\n", .invalidContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", .invalidContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: +5\r\n\r\n", .invalidContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length:\r\n\r\n", .invalidContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: 5 5\r\n\r\n", .invalidContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: 0x10\r\n\r\n", .invalidContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: 1.0\r\n\r\n", .invalidContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: 5,\r\n\r\n", .invalidContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999\r\n\r\n", .invalidContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 6\r\n\r\n", .conflictingContentLength),
        BadHead("POST / HTTP/1.1\r\n\(host)Content-Length: 5, 6\r\n\r\n", .conflictingContentLength),
        BadHead(
            "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            .contentLengthWithTransferEncoding),
        BadHead(
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            .contentLengthWithTransferEncoding),
        BadHead("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\n", .invalidTransferEncoding),
        BadHead("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n", .invalidTransferEncoding),
        BadHead("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, chunked\r\n\r\n", .invalidTransferEncoding),
        BadHead("POST / HTTP/1.1\r\n\(host)Transfer-Encoding:\r\n\r\n", .invalidTransferEncoding),
        BadHead("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked;x=1\r\n\r\n", .invalidTransferEncoding),
        BadHead("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .invalidTransferEncoding),
        BadHead("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferCoding),
        BadHead(
            "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            .unsupportedTransferCoding),
    ]

    @Test(arguments: requestLines + targets + fieldLines + lineEndings + hosts + framing)
    func badHeadIsRefusedWholeAndByteByByte(_ test: BadHead) {
        #expect(feedStream(test.bytes) == .failed(test.error))
        #expect(feedByteByByte(test.bytes) == .failed(test.error))
    }

    @Test func everyErrorMapsToItsStatus() {
        let expected: [(HTTPHeadError, Int)] = [
            (.malformedRequestLine, 400), (.malformedHeader, 400), (.invalidLineEnding, 400), (.invalidTarget, 400),
            (.invalidHost, 400), (.invalidContentLength, 400), (.conflictingContentLength, 400),
            (.contentLengthWithTransferEncoding, 400), (.invalidTransferEncoding, 400), (.uriTooLong, 414),
            (.headTooLarge, 431), (.tooManyHeaders, 431), (.unsupportedTransferCoding, 501),
            (.unsupportedVersion, 505),
        ]
        for (error, status) in expected {
            #expect(error.status == status, "\(error)")
            #expect(!HTTPResponse.reasonPhrase(error.status).isEmpty)
        }
    }

    @Test func directInitAppliesTheSameChecks() {
        #expect(throws: HTTPHeadError.malformedRequestLine) {
            try HTTPRequestHead(method: "G T", target: "/", headers: ["Host": "h"])
        }
        #expect(throws: HTTPHeadError.unsupportedVersion) {
            try HTTPRequestHead(method: "GET", target: "/", versionMinor: 2, headers: ["Host": "h"])
        }
        #expect(throws: HTTPHeadError.invalidTarget) {
            try HTTPRequestHead(method: "GET", target: "/a b", headers: ["Host": "h"])
        }
        #expect(throws: HTTPHeadError.invalidHost) { try HTTPRequestHead(method: "GET", target: "/") }
    }
}
