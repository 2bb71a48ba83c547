import Foundation
import LivefeedProtocol
import Testing

@Suite struct WebSocketHandshakeTests {
    @Test func acceptValueMatchesRFC6455Example() {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    /// RFC 4648 §10's vectors, then every length up to 64 against Foundation's encoder (each padding case).
    @Test func base64MatchesRFC4648AndFoundation() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=",
            "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(WebSocketHandshake.base64(Array(plain.utf8)) == encoded)
        }
        var generator = SystemRandomNumberGenerator()
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(WebSocketHandshake.base64(bytes) == Data(bytes).base64EncodedString(), "\(bytes)")
        }
    }

    @Test func sixteenByteBase64KeyIsValid() {
        #expect(WebSocketHandshake.isValidKey("dGhlIHNhbXBsZSBub25jZQ=="))
        #expect(WebSocketHandshake.isValidKey("AAAAAAAAAAAAAAAAAAAAAA=="))
    }

    @Test(arguments: [
        "",
        "dGhlIHNhbXBsZSBub25jZQ",  // padding missing
        "AAAAAAAAAAAAAAAA",  // 12 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",  // 20 bytes
        "!!!!!!!!!!!!!!!!!!!!!!==",  // not base64
        "dGhlIHNhbXBsZSBub25jZQ= ",  // stray space
        " dGhlIHNhbXBsZSBub25jZQ==",
    ])
    func malformedKeyIsRejected(key: String) {
        #expect(!WebSocketHandshake.isValidKey(key))
    }
}
