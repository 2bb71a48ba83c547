import Foundation
import Testing

/// Checks of the test support code itself; they need no server.
struct SupportSelfTests {
    @Test func acceptValueMatchesRFC6455Example() {
        #expect(WebSocketClient.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func procNetTCPRowIsParsed() {
        let line: Substring =
            "   3: 0100007F:A1B2 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 20 4 30 10 -1"
        #expect(
            ProcessOwnership.parseRow(line)
                == .init(localPort: 0xA1B2, remotePort: 0xD431, state: "01", inode: 123456))
    }

    @Test func exitStatusIsDecodedLikeTheWaitMacros() {
        #expect(ExitStatus(waitStatus: 0) == .exited(0))
        #expect(ExitStatus(waitStatus: 3 << 8) == .exited(3))
        #expect(ExitStatus(waitStatus: 9) == .signaled(9))
    }

    @Test func jsonIntegersSurviveBridging() throws {
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(#"{"a":7,"b":"8","c":1.5}"#.utf8)) as? [String: Any])
        #expect(object.int("a") == 7)
        #expect(object.int("b") == 8)
        #expect(object.int("c") == nil)
    }
}
