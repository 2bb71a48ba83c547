import LivefeedProtocol
import Testing

@Suite struct WebSocketHandshakeTests {
    @Test func acceptValueMatchesRFC6455Example() {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
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
