import LivefeedProtocol
import Testing

@Suite struct WebSocketFrameEncoderTests {
    @Test(arguments: [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
    func headerSizeGrowsAtLengthBoundaries(length: Int, headerSize: Int) {
        var header: [UInt8] = []
        WebSocketFrameEncoder.appendHeader(to: &header, opcode: .binary, length: length)
        #expect(header.count == headerSize)
        #expect(header[0] == 0x82)
        #expect(header[1] & 0x80 == 0, "server frames are never masked")
    }

    @Test func headerBytesSpellTheLengthBigEndian() {
        var header: [UInt8] = []
        WebSocketFrameEncoder.appendHeader(to: &header, opcode: .text, length: 125)
        #expect(header == [0x81, 125])
        header = []
        WebSocketFrameEncoder.appendHeader(to: &header, opcode: .text, length: 126)
        #expect(header == [0x81, 126, 0x00, 0x7E])
        header = []
        WebSocketFrameEncoder.appendHeader(to: &header, opcode: .text, length: 65535)
        #expect(header == [0x81, 126, 0xFF, 0xFF])
        header = []
        WebSocketFrameEncoder.appendHeader(to: &header, opcode: .text, length: 65536)
        #expect(header == [0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00])
    }

    @Test func clearedFinLeavesOnlyTheOpcode() {
        var header: [UInt8] = [0xAA]
        WebSocketFrameEncoder.appendHeader(to: &header, opcode: .continuation, length: 3, fin: false)
        #expect(header == [0xAA, 0x00, 3])
    }

    @Test func frameIsHeaderThenPayload() {
        #expect(WebSocketFrameEncoder.frame(.text, payload: Array("Hello".utf8)) == [0x81, 5] + Array("Hello".utf8))
        #expect(WebSocketFrameEncoder.frame(.pong, payload: [UInt8]()) == [0x8A, 0])
        let big = [UInt8](repeating: 7, count: 70_000)
        let frame = WebSocketFrameEncoder.frame(.binary, payload: big)
        #expect(frame.count == 10 + big.count)
        #expect(Array(frame[10...]) == big)
    }

    @Test func closeFrameCarriesCodeAndReason() {
        #expect(WebSocketFrameEncoder.closeFrame(.normal) == [0x88, 2, 0x03, 0xE8])
        #expect(
            WebSocketFrameEncoder.closeFrame(.epochChanged, reason: "epoch") == [0x88, 7, 0x0F, 0xA1]
                + Array("epoch".utf8))
    }

    @Test(arguments: [("a", 123), ("é", 122), ("€", 123), ("😀", 120)])
    func closeReasonIsCutAtACharacterBoundary(unit: String, expectedBytes: Int) {
        let frame = WebSocketFrameEncoder.closeFrame(.goingAway, reason: String(repeating: unit, count: 200))
        #expect(Int(frame[1]) == 2 + expectedBytes)
        #expect(frame.count == 4 + expectedBytes)
        let reason = Array(frame[4...])
        #expect(
            String(validating: reason, as: UTF8.self) == String(repeating: unit, count: expectedBytes / unit.utf8.count)
        )
    }

    @Test func closeReasonThatFitsIsKept() {
        let reason = String(repeating: "x", count: 123)
        #expect(
            WebSocketFrameEncoder.closeFrame(.normal, reason: reason) == [0x88, 125, 0x03, 0xE8] + Array(reason.utf8))
    }
}
