import LivefeedProtocol
import Testing

@Suite struct WebSocketConnectionStateTests {
    // MARK: messages

    @Test func rfcMaskedHelloIsOneTextMessage() {
        // RFC 6455 §5.7: a single-frame masked text message containing "Hello".
        var state = WebSocketConnectionState()
        let actions = state.receive([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        #expect(actions == [.message(opcode: .text, payload: Array("Hello".utf8))])
        #expect(!state.isClosing && !state.isClosed)
    }

    @Test(arguments: [0, 1, 125, 126, 65535, 65536, 70_000])
    func binaryMessageOfEveryLengthEncoding(length: Int) {
        var state = WebSocketConnectionState()
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(
            state.receive(WebSocketTestFrame(.binary, payload).bytes) == [.message(opcode: .binary, payload: payload)])
    }

    @Test func emptyTextMessage() {
        var state = WebSocketConnectionState()
        #expect(state.receive(WebSocketTestFrame(.text).bytes) == [.message(opcode: .text, payload: [])])
    }

    @Test func severalFramesInOneReadKeepTheirOrder() {
        var state = WebSocketConnectionState()
        let bytes =
            WebSocketTestFrame(.text, "one").bytes + WebSocketTestFrame(.ping, "p").bytes
            + WebSocketTestFrame(.binary, [9]).bytes + WebSocketTestFrame(.pong, "q").bytes
        #expect(
            state.receive(bytes) == [
                .message(opcode: .text, payload: Array("one".utf8)),
                .send(WebSocketFrameEncoder.frame(.pong, payload: Array("p".utf8))),
                .message(opcode: .binary, payload: [9]),
                .pong(payload: Array("q".utf8)),
            ])
    }

    @Test func fragmentedMessageWithInterleavedPing() {
        var state = WebSocketConnectionState()
        let bytes =
            WebSocketTestFrame(.text, "Hel", fin: false).bytes + WebSocketTestFrame(.ping, "are you there").bytes
            + WebSocketTestFrame(.continuation, "", fin: false).bytes + WebSocketTestFrame(.pong, "yes").bytes
            + WebSocketTestFrame(.continuation, "lo").bytes
        #expect(
            state.receive(bytes) == [
                .send(WebSocketFrameEncoder.frame(.pong, payload: Array("are you there".utf8))),
                .pong(payload: Array("yes".utf8)),
                .message(opcode: .text, payload: Array("Hello".utf8)),
            ])
    }

    @Test func pingBetweenFragmentsIsAnsweredBeforeTheMessageCompletes() {
        var state = WebSocketConnectionState()
        let first = WebSocketTestFrame(.binary, [1, 2], fin: false).bytes + WebSocketTestFrame(.ping, [7]).bytes
        #expect(state.receive(first) == [.send(WebSocketFrameEncoder.frame(.pong, payload: [7]))])
        let last = WebSocketTestFrame(.continuation, [3]).bytes
        #expect(state.receive(last) == [.message(opcode: .binary, payload: [1, 2, 3])])
    }

    @Test func maximumPingPayloadIsEchoed() {
        var state = WebSocketConnectionState()
        let payload = [UInt8](repeating: 0xFE, count: 125)
        #expect(
            state.receive(WebSocketTestFrame(.ping, payload).bytes) == [
                .send(WebSocketFrameEncoder.frame(.pong, payload: payload))
            ])
    }

    @Test func messageExactlyAtTheLimitsIsDelivered() {
        var state = WebSocketConnectionState(limits: .init(maxFrameBytes: 10, maxMessageBytes: 20))
        let bytes =
            WebSocketTestFrame(.binary, [UInt8](repeating: 1, count: 10), fin: false).bytes
            + WebSocketTestFrame(.continuation, [UInt8](repeating: 2, count: 10)).bytes
        let expected = [UInt8](repeating: 1, count: 10) + [UInt8](repeating: 2, count: 10)
        #expect(state.receive(bytes) == [.message(opcode: .binary, payload: expected)])
    }

    @Test func multiByteCharacterSplitAcrossFragments() {
        var state = WebSocketConnectionState()
        let emoji = Array("😀".utf8)
        let bytes =
            WebSocketTestFrame(.text, Array(emoji[..<2]), fin: false).bytes
            + WebSocketTestFrame(.continuation, Array(emoji[2...])).bytes
        #expect(state.receive(bytes) == [.message(opcode: .text, payload: emoji)])
    }

    // MARK: frame-level failures

    @Test func unmaskedFrameFailsWithProtocolError() {
        var state = WebSocketConnectionState()
        var frame = WebSocketTestFrame(.text, "Hello")
        frame.masked = false
        #expect(state.receive(frame.bytes) == closeActions(.protocolError, .unmaskedFrame))
        #expect(state.isClosing && state.isClosed)
    }

    @Test(arguments: [1, 2, 4, 7] as [UInt8])
    func reservedBitsFailWithProtocolError(bits: UInt8) {
        var state = WebSocketConnectionState()
        var frame = WebSocketTestFrame(.text, "Hello")
        frame.reservedBits = bits
        #expect(state.receive(frame.bytes) == closeActions(.protocolError, .reservedBitsSet))
    }

    @Test(arguments: [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] as [UInt8])
    func reservedOpcodeFailsWithProtocolError(opcode: UInt8) {
        var state = WebSocketConnectionState()
        let actions = state.receive(WebSocketTestFrame(rawOpcode: opcode, [1, 2, 3]).bytes)
        #expect(actions == closeActions(.protocolError, .unknownOpcode(opcode)))
    }

    @Test(arguments: [WebSocketOpcode.ping, .pong, .close])
    func fragmentedControlFrameFailsWithProtocolError(opcode: WebSocketOpcode) {
        var state = WebSocketConnectionState()
        let actions = state.receive(WebSocketTestFrame(opcode, [0x03, 0xE8], fin: false).bytes)
        #expect(actions == closeActions(.protocolError, .fragmentedControlFrame))
    }

    @Test(arguments: [WebSocketOpcode.ping, .pong, .close])
    func controlFrameOver125BytesFailsFromItsHeader(opcode: WebSocketOpcode) {
        var state = WebSocketConnectionState()
        // Only the first two header bytes are needed to know the frame is illegal.
        let actions = state.receive(Array(WebSocketTestFrame(opcode, [UInt8](repeating: 0x41, count: 126)).bytes[..<2]))
        #expect(actions == closeActions(.protocolError, .controlFrameTooLong(126)))
    }

    @Test func payloadLengthWithMostSignificantBitFails() {
        var state = WebSocketConnectionState()
        let header: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]
        #expect(state.receive(header) == closeActions(.protocolError, .invalidPayloadLength))
    }

    @Test func reservedOpcodeFailsOnItsFirstByte() {
        var state = WebSocketConnectionState()
        #expect(state.receive([0x83]) == closeActions(.protocolError, .unknownOpcode(3)))
    }

    @Test func unmaskedFrameFailsOnItsSecondByte() {
        var state = WebSocketConnectionState()
        #expect(state.receive([0x81]) == [])
        #expect(state.receive([0x05]) == closeActions(.protocolError, .unmaskedFrame))
    }

    @Test func continuationWithoutAMessageFails() {
        var state = WebSocketConnectionState()
        let actions = state.receive(WebSocketTestFrame(.continuation, "lo").bytes)
        #expect(actions == closeActions(.protocolError, .unexpectedContinuation))
    }

    @Test(arguments: [WebSocketOpcode.text, .binary])
    func newMessageDuringAFragmentedOneFails(opcode: WebSocketOpcode) {
        var state = WebSocketConnectionState()
        let bytes = WebSocketTestFrame(.binary, [1], fin: false).bytes + WebSocketTestFrame(opcode, [2]).bytes
        #expect(state.receive(bytes) == closeActions(.protocolError, .interruptedMessage))
    }

    @Test func oversizedFrameFailsFromItsHeaderAlone() {
        var state = WebSocketConnectionState(limits: .init(maxFrameBytes: 1000, maxMessageBytes: 5000))
        let actions = state.receive(WebSocketTestFrame.header(.binary, length: 1001))
        #expect(actions == closeActions(.messageTooBig, .frameTooBig(1001)))
    }

    @Test func hugeDeclaredLengthFailsWithoutBuffering() {
        var state = WebSocketConnectionState()
        let actions = state.receive(WebSocketTestFrame.header(.text, length: 1 << 62))
        #expect(actions == closeActions(.messageTooBig, .frameTooBig(1 << 62)))
    }

    @Test func oversizedMessageFailsAtTheFragmentThatCrossesTheLimit() {
        var state = WebSocketConnectionState(limits: .init(maxFrameBytes: 100, maxMessageBytes: 150))
        let first = WebSocketTestFrame(.text, [UInt8](repeating: 0x61, count: 100), fin: false).bytes
        #expect(state.receive(first) == [])
        let actions = state.receive(WebSocketTestFrame.header(.continuation, length: 51))
        #expect(actions == closeActions(.messageTooBig, .messageTooBig(limit: 150)))
    }

    // MARK: UTF-8

    @Test func invalidTextFailsAtTheBadByteBeforeTheFrameEnds() {
        var state = WebSocketConnectionState()
        let payload = Array("κόσμε".utf8) + [0xED, 0xA0, 0x80] + Array("edited".utf8)
        let frame = WebSocketTestFrame(.text, payload).bytes
        let badByteEnd = 6 + Array("κόσμε".utf8).count + 2
        #expect(state.receive(Array(frame[..<(badByteEnd - 1)])) == [])
        #expect(
            state.receive(Array(frame[(badByteEnd - 1)..<badByteEnd])) == closeActions(.invalidPayload, .invalidUTF8))
        #expect(state.receive(Array(frame[badByteEnd...])) == [])
    }

    @Test func invalidContinuationInNextFragmentFailsBeforeTheMessageEnds() {
        var state = WebSocketConnectionState()
        let first = WebSocketTestFrame(.text, Array("ok".utf8) + [0xED], fin: false).bytes
        #expect(state.receive(first) == [])
        let second = WebSocketTestFrame(.continuation, [0xA0, 0x80], fin: false).bytes
        // Header (6 bytes) plus the first payload byte is enough.
        #expect(state.receive(Array(second[..<7])) == closeActions(.invalidPayload, .invalidUTF8))
    }

    @Test func truncatedCharacterAtTheEndOfTheMessageFails() {
        var state = WebSocketConnectionState()
        let bytes =
            WebSocketTestFrame(.text, "a", fin: false).bytes
            + WebSocketTestFrame(.continuation, [0xF0, 0x9F, 0x98]).bytes
        #expect(state.receive(bytes) == closeActions(.invalidPayload, .invalidUTF8))
    }

    @Test func binaryMessagesAreNotValidated() {
        var state = WebSocketConnectionState()
        #expect(
            state.receive(WebSocketTestFrame(.binary, [0xFF, 0xED, 0xA0]).bytes) == [
                .message(opcode: .binary, payload: [0xFF, 0xED, 0xA0])
            ])
    }

    // MARK: closing handshake

    @Test func peerCloseIsEchoedWithItsCode() {
        var state = WebSocketConnectionState()
        let actions = state.receive(WebSocketTestFrame.close(1000, Array("bye".utf8)).bytes)
        #expect(
            actions == [
                .send(WebSocketFrameEncoder.closeFrame(.normal)), .closeConnection(code: .normal, reason: "bye"),
            ])
        #expect(state.isClosing && state.isClosed)
        #expect(state.initiateClose(.goingAway) == nil)
    }

    @Test func emptyCloseGetsAnEmptyReply() {
        var state = WebSocketConnectionState()
        #expect(
            state.receive(WebSocketTestFrame(.close).bytes) == [
                .send([0x88, 0x00]), .closeConnection(code: nil, reason: ""),
            ])
    }

    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999])
    func validCloseCodeIsEchoed(raw: UInt16) {
        var state = WebSocketConnectionState()
        let code = WebSocketCloseCode(rawValue: raw)
        let actions = state.receive(WebSocketTestFrame.close(raw).bytes)
        #expect(actions == [.send(WebSocketFrameEncoder.closeFrame(code)), .closeConnection(code: code, reason: "")])
    }

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
    func invalidCloseCodeFailsWithProtocolError(raw: UInt16) {
        var state = WebSocketConnectionState()
        let actions = state.receive(WebSocketTestFrame.close(raw).bytes)
        #expect(actions == closeActions(.protocolError, .invalidCloseCode(raw)))
    }

    @Test func oneByteCloseFailsWithProtocolError() {
        var state = WebSocketConnectionState()
        let actions = state.receive(WebSocketTestFrame(.close, [0x03]).bytes)
        #expect(actions == closeActions(.protocolError, .invalidClosePayloadLength))
    }

    @Test func closeReasonWithInvalidUTF8FailsWithInvalidPayload() {
        var state = WebSocketConnectionState()
        let actions = state.receive(WebSocketTestFrame.close(1000, Array("κόσμε".utf8) + [0xED, 0xA0, 0x80]).bytes)
        #expect(actions == closeActions(.invalidPayload, .invalidCloseReason))
    }

    @Test func closeWithLongestReasonIsAccepted() {
        var state = WebSocketConnectionState()
        let reason = String(repeating: "*", count: 123)
        let actions = state.receive(WebSocketTestFrame.close(1000, Array(reason.utf8)).bytes)
        #expect(actions.last == .closeConnection(code: .normal, reason: reason))
    }

    @Test func bytesAfterThePeerCloseAreIgnored() {
        var state = WebSocketConnectionState()
        let bytes = WebSocketTestFrame.close(1001).bytes + WebSocketTestFrame(.text, "late").bytes
        #expect(state.receive(bytes).count == 2)
        #expect(state.receive(WebSocketTestFrame(.ping).bytes) == [])
        #expect(state.receive(WebSocketTestFrame.close(1000).bytes) == [])
    }

    @Test func closeDuringAFragmentedMessageDropsIt() {
        var state = WebSocketConnectionState()
        let bytes =
            WebSocketTestFrame(.text, "half", fin: false).bytes + WebSocketTestFrame.close(1000).bytes
            + WebSocketTestFrame(.continuation, "rest").bytes
        #expect(
            state.receive(bytes) == [
                .send(WebSocketFrameEncoder.closeFrame(.normal)), .closeConnection(code: .normal, reason: ""),
            ])
    }

    @Test func inputAfterAFailureIsIgnored() {
        var state = WebSocketConnectionState()
        #expect(state.receive(WebSocketTestFrame(rawOpcode: 3).bytes).count == 2)
        #expect(state.receive(WebSocketTestFrame(.text, "x").bytes) == [])
        #expect(state.initiateClose(.normal) == nil)
    }

    // MARK: server-initiated close

    @Test func serverCloseWaitsForThePeerClose() {
        var state = WebSocketConnectionState()
        #expect(
            state.initiateClose(.tooFarBehind, reason: "slow")
                == WebSocketFrameEncoder.closeFrame(.tooFarBehind, reason: "slow"))
        #expect(state.isClosing && !state.isClosed)
        #expect(state.initiateClose(.normal) == nil)
        let ignored =
            WebSocketTestFrame(.text, "x").bytes + WebSocketTestFrame(.ping, "p").bytes
            + WebSocketTestFrame(.pong).bytes
            + WebSocketTestFrame(.binary, [1], fin: false).bytes + WebSocketTestFrame(.continuation, [2]).bytes
        #expect(state.receive(ignored) == [])
        #expect(
            state.receive(WebSocketTestFrame.close(4000).bytes) == [.closeConnection(code: .tooFarBehind, reason: "")])
        #expect(state.isClosed)
    }

    @Test func serverCloseInTheMiddleOfAFrameDropsTheMessage() {
        var state = WebSocketConnectionState()
        let frame = WebSocketTestFrame(.text, "never delivered").bytes
        #expect(state.receive(Array(frame[..<9])) == [])
        #expect(state.initiateClose(.goingAway) != nil)
        #expect(
            state.receive(Array(frame[9...]) + WebSocketTestFrame(.close).bytes) == [
                .closeConnection(code: nil, reason: "")
            ])
    }

    @Test func dataIsNotLimitedWhileClosing() {
        var state = WebSocketConnectionState(limits: .init(maxFrameBytes: 4, maxMessageBytes: 4))
        _ = state.initiateClose(.normal)
        #expect(state.receive(WebSocketTestFrame(.binary, [UInt8](repeating: 0, count: 300)).bytes) == [])
        #expect(state.receive(WebSocketTestFrame.close(1000).bytes) == [.closeConnection(code: .normal, reason: "")])
    }

    @Test func protocolErrorWhileClosingDoesNotSendASecondClose() {
        var state = WebSocketConnectionState()
        _ = state.initiateClose(.normal)
        var frame = WebSocketTestFrame(.text, "x")
        frame.masked = false
        #expect(
            state.receive(frame.bytes) == [
                .closeConnection(code: .protocolError, reason: WebSocketProtocolError.unmaskedFrame.description)
            ])
        #expect(state.isClosed)
    }

    @Test func invalidPeerCloseWhileClosingFails() {
        var state = WebSocketConnectionState()
        _ = state.initiateClose(.normal)
        let actions = state.receive(WebSocketTestFrame.close(1005).bytes)
        #expect(
            actions == [
                .closeConnection(
                    code: .protocolError, reason: WebSocketProtocolError.invalidCloseCode(1005).description)
            ])
    }
}
