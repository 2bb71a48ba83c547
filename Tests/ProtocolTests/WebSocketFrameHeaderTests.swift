import LivefeedProtocol
import Testing

@Suite struct WebSocketFrameHeaderTests {
    @Test func parserAssemblesAHeaderFedByteByByte() throws {
        var frame = WebSocketTestFrame(.binary, [UInt8](repeating: 0, count: 300), fin: false)
        frame.maskingKey = [0xA1, 0xB2, 0xC3, 0xD4]
        let header = Array(frame.bytes[..<8])
        var parser = WebSocketFrameHeaderParser()
        var parsed: WebSocketFrameHeader?
        for byte in header {
            #expect(parsed == nil)
            var index = 0
            parsed = try [byte].withUnsafeBytes { try parser.parse($0, index: &index) }
            #expect(index == 1)
        }
        #expect(
            parsed == WebSocketFrameHeader(fin: false, opcode: .binary, payloadLength: 300, maskingKey: 0xD4C3_B2A1))
        #expect(parser.isEmpty)
    }

    @Test func parserStopsAtTheEndOfTheHeader() throws {
        let bytes = WebSocketTestFrame(.text, "abc").bytes
        var parser = WebSocketFrameHeaderParser()
        var index = 0
        let parsed = try bytes.withUnsafeBytes { try parser.parse($0, index: &index) }
        #expect(parsed?.payloadLength == 3)
        #expect(index == 6)
    }

    @Test func unmaskingInPiecesAtAnyOffsetMatchesWholeFrame() {
        var random = SeededGenerator(seed: 42)
        let payload = (0..<301).map { _ in UInt8.random(in: 0...255, using: &random) }
        var frame = WebSocketTestFrame(.binary, payload)
        frame.maskingKey = [0x01, 0x80, 0xFF, 0x5A]
        let masked = Array(frame.bytes.suffix(payload.count))
        let header = WebSocketFrameHeader(fin: true, opcode: .binary, payloadLength: 301, maskingKey: 0x5AFF_8001)
        for _ in 0..<50 {
            var buffer = masked
            var offset = 0
            while offset < buffer.count {
                let end = min(buffer.count, offset + Int.random(in: 1...20, using: &random))
                buffer[offset..<end].withUnsafeMutableBytes { header.unmask($0, payloadOffset: offset) }
                offset = end
            }
            #expect(buffer == payload)
        }
    }
}
