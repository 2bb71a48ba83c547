import LivefeedProtocol
import Testing

/// `String.ifValidUTF8` agrees with `String(validating:as:)` on ASCII, on valid multi-byte text and on every kind of
/// invalid sequence (it only skips the slow path for ASCII).
@Suite struct ValidUTF8Tests {
    static let samples: [[UInt8]] = [
        [], Array("plain ascii, with \t tab".utf8), Array("grüße ✓ 日本 🎉".utf8),
        [0xC0, 0xAF],  // overlong "/"
        [0x80],  // lone continuation byte
        [0xE2, 0x9C],  // truncated three-byte sequence
        [0xED, 0xA0, 0x80],  // UTF-16 surrogate
        [0xF4, 0x90, 0x80, 0x80],  // beyond U+10FFFF
        Array("ok".utf8) + [0xFF] + Array("ok".utf8),
    ]

    @Test(arguments: samples)
    func agreesWithTheStandardLibrary(bytes: [UInt8]) {
        #expect(String.ifValidUTF8(bytes) == String(validating: bytes, as: UTF8.self))
        // A slice that does not start at index 0, as record and head parsers pass them.
        let padded = [UInt8(ascii: "x")] + bytes
        #expect(String.ifValidUTF8(padded[1...]) == String(validating: bytes, as: UTF8.self))
    }
}
