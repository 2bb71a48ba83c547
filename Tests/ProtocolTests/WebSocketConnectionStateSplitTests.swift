import LivefeedProtocol
import Testing

@Suite struct WebSocketConnectionStateSplitTests {
    private static let conversation: [UInt8] =
        WebSocketTestFrame(.text, "héllo wörld €😀").bytes
        + WebSocketTestFrame(.binary, [1, 2, 3], fin: false).bytes + WebSocketTestFrame(.ping, "ping").bytes
        + WebSocketTestFrame(.continuation, [4, 5], fin: false).bytes + WebSocketTestFrame(.pong).bytes
        + WebSocketTestFrame(.continuation, [6]).bytes
        + WebSocketTestFrame(.text, String(repeating: "ünïcødé ", count: 20)).bytes
        + WebSocketTestFrame(.text, Array("😀😀".utf8.prefix(3)), fin: false).bytes
        + WebSocketTestFrame(.continuation, Array("😀😀".utf8.dropFirst(3))).bytes
        + WebSocketTestFrame.close(1000, Array("done".utf8)).bytes + WebSocketTestFrame(.text, "ignored").bytes

    private static let failingConversation: [UInt8] =
        WebSocketTestFrame(.text, "fine").bytes
        + WebSocketTestFrame(.text, Array("almost".utf8) + [0xF4, 0x90, 0x80, 0x80] + Array("tail".utf8)).bytes
        + WebSocketTestFrame(.binary, [1]).bytes

    @Test(arguments: [conversation, failingConversation])
    func everySplitPointYieldsTheSameActions(bytes: [UInt8]) {
        var whole = WebSocketConnectionState()
        let expected = whole.receive(bytes)
        #expect(whole.isClosed)
        for cut in 0...bytes.count {
            var state = WebSocketConnectionState()
            #expect(state.receive(bytes, cuttingAt: [cut]) == expected, "cut at \(cut)")
        }
        for (first, second) in [(1, 2), (5, 40), (17, 18), (30, 200)] {
            var state = WebSocketConnectionState()
            #expect(state.receive(bytes, cuttingAt: [first, second]) == expected)
        }
        var byteByByte = WebSocketConnectionState()
        #expect(byteByByte.receive(bytes, cuttingAt: Array(0..<bytes.count)) == expected)
    }

    @Test func conversationActions() {
        var state = WebSocketConnectionState()
        #expect(
            state.receive(Self.conversation) == [
                .message(opcode: .text, payload: Array("héllo wörld €😀".utf8)),
                .send(WebSocketFrameEncoder.frame(.pong, payload: Array("ping".utf8))),
                .pong(payload: []),
                .message(opcode: .binary, payload: [1, 2, 3, 4, 5, 6]),
                .message(opcode: .text, payload: Array(String(repeating: "ünïcødé ", count: 20).utf8)),
                .message(opcode: .text, payload: Array("😀😀".utf8)),
                .send(WebSocketFrameEncoder.closeFrame(.normal)),
                .closeConnection(code: .normal, reason: "done"),
            ])
    }

    @Test func largeFrameFedOneByteAtATime() {
        let payload = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let frame = WebSocketTestFrame(.binary, payload).bytes
        var state = WebSocketConnectionState()
        var actions: [WebSocketAction] = []
        frame.withUnsafeBytes { raw in
            for offset in 0..<raw.count {
                actions += state.receive(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 1]))
            }
        }
        #expect(actions == [.message(opcode: .binary, payload: payload)])
    }

    @Test func seededRandomInputNeverTrapsAndEndsClosedOrWaiting() {
        var random = SeededGenerator(seed: 0x6C69_7665_6665_6564)
        let limits = WebSocketConnectionState.Limits(maxFrameBytes: 300, maxMessageBytes: 600)
        var closedCount = 0
        for iteration in 0..<2000 {
            let bytes = Self.randomInput(using: &random)
            var cuts: [Int] = []
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                cuts.append(Int.random(in: 0...bytes.count, using: &random))
            }
            cuts.sort()

            var whole = WebSocketConnectionState(limits: limits)
            let expected = whole.receive(bytes)
            var state = WebSocketConnectionState(limits: limits)
            let actions = state.receive(bytes, cuttingAt: cuts)
            #expect(actions == expected, "iteration \(iteration)")

            let closes = actions.indices.filter {
                if case .closeConnection = actions[$0] { true } else { false }
            }
            #expect(closes.count <= 1)
            if let close = closes.first {
                closedCount += 1
                #expect(close == actions.count - 1, "nothing follows .closeConnection")
                #expect(state.isClosed)
                #expect(state.receive(bytes) == [])
            } else {
                #expect(!state.isClosed && !state.isClosing)
            }
            for case .message(.text, let payload) in actions {
                #expect(String(validating: payload, as: UTF8.self) != nil)
            }
        }
        // Random data mostly breaks a rule; make sure the loop exercised both endings.
        #expect(closedCount > 100 && closedCount < 2000)
    }

    /// Mostly plausible masked frames with the occasional flipped bit, or plain noise.
    private static func randomInput(using random: inout SeededGenerator) -> [UInt8] {
        if Int.random(in: 0..<8, using: &random) == 0 {
            return (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
        let opcodes: [WebSocketOpcode] = [.text, .binary, .continuation, .ping, .pong, .close]
        var bytes: [UInt8] = []
        for _ in 0..<Int.random(in: 1...6, using: &random) {
            let opcode = opcodes[Int.random(in: 0..<opcodes.count, using: &random)]
            let length = Int.random(in: 0...(opcode.isControl ? 20 : 200), using: &random)
            let payload: [UInt8] =
                Bool.random(using: &random)
                ? Array(String(repeating: "aé€😀", count: length / 10 + 1).utf8.prefix(length))
                : (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            var frame = WebSocketTestFrame(opcode, payload, fin: opcode.isControl || Bool.random(using: &random))
            frame.maskingKey = (0..<4).map { _ in UInt8.random(in: 0...255, using: &random) }
            bytes += frame.bytes
        }
        if Bool.random(using: &random) {
            let index = Int.random(in: 0..<bytes.count, using: &random)
            bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        }
        return bytes
    }
}
