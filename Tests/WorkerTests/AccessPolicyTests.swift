import LivefeedProtocol
import Testing

@testable import Worker

struct AccessPolicyTests {
    static func head(_ headers: [(String, String)]) throws -> HTTPRequestHead {
        var parser = RequestHeadParser()
        let text = "GET /live/metrics HTTP/1.1\r\n" + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
        guard case .complete(let head, _) = try parser.feed(Array(text.utf8)[...]) else {
            throw HTTPHeadError.malformedRequestLine
        }
        return head
    }

    static func policy(origins: [String] = [], token: String? = nil) -> AccessPolicy {
        var config = WorkerConfig()
        config.allowedOrigins = origins
        config.accessToken = token
        return AccessPolicy(config: config)
    }

    @Test(arguments: [
        ([String](), "http://127.0.0.1:8080", true), ([], "http://evil.example", false),
        (["https://app.example"], "http://127.0.0.1:8080", true), (["https://app.example"], "https://app.example", true),
        (["https://app.example"], "http://evil.example", false), (["*"], "http://evil.example", true),
        (["https://APP.example"], "https://app.EXAMPLE", true), ([], "null", false),
    ])
    func sameOriginAlwaysPassesAndTheListAddsToIt(_ origins: [String], _ origin: String, _ allowed: Bool) throws {
        let head = try Self.head([("Host", "127.0.0.1:8080"), ("Origin", origin)])
        #expect(Self.policy(origins: origins).originAllowed(head) == allowed)
    }

    @Test func aRequestWithoutOriginIsNotABrowserAndPasses() throws {
        #expect(Self.policy(origins: ["https://app.example"]).originAllowed(try Self.head([("Host", "h")])))
    }

    @Test func lengthsAreComparedInFull() {
        let token = Array("secret".utf8)
        #expect(AccessPolicy.constantTimeEqual(token, token))
        #expect(!AccessPolicy.constantTimeEqual(token + [UInt8](repeating: 0, count: 256), token))
        #expect(!AccessPolicy.constantTimeEqual(token, token + [UInt8](repeating: 0, count: 256)))
        #expect(!AccessPolicy.constantTimeEqual(token + [0], token))
        #expect(!AccessPolicy.constantTimeEqual(Array("secreT".utf8), token))
        #expect(!AccessPolicy.constantTimeEqual([], token))
    }
}

struct MediaTypeTests {
    @Test(arguments: [
        ("application/json", true), ("Application/JSON; charset=utf-8", true), (" application/json ;x=y", true),
        ("application/jsonx", false), ("application/json-seq", false), ("text/plain", false), ("", false),
        ("application/ json", false), ("xapplication/json", false),
    ])
    func onlyApplicationJSONWithParametersIsJSON(_ value: String, _ expected: Bool) {
        #expect(MediaType.isJSON(value) == expected)
    }

    @Test func noContentTypeIsNotJSON() { #expect(!MediaType.isJSON(nil)) }
}
