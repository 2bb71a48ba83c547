import LivefeedProtocol
import Testing

@Suite struct HTTPRequestHeadSplitTests {
    static let samples: [String] = [
        "GET /channels/3?after_id=5&format=html HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, Upgrade\r\n"
            + "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nbody bytes",
        "\r\nPOST /api/messages HTTP/1.0\r\nContent-Length: 3\r\nX-Empty:\r\n\r\nabc",
        "GET /a%20b HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\n",
    ]

    @Test(arguments: samples)
    func byteByByteFeedMatchesWholeFeed(_ text: String) {
        let bytes = Array(text.utf8)
        #expect(feedByteByByte(bytes) == feedStream(bytes))
    }

    @Test(arguments: samples)
    func everyTwoPieceSplitMatchesWholeFeed(_ text: String) {
        let bytes = Array(text.utf8)
        let whole = feedStream(bytes)
        for cut in 0...bytes.count {
            let split = feedStream(bytes, cuts: [cut])
            #expect(split == whole, "cut at \(cut)")
            if split != whole { return }
        }
    }

    @Test func wholeFeedOutcomesAreTheExpectedOnes() {
        let outcomes = Self.samples.map { feedStream(Array($0.utf8)) }
        guard case .complete(let first, let end) = outcomes[0] else {
            Issue.record("first sample incomplete")
            return
        }
        #expect(first.headers.containsToken("upgrade", in: "connection"))
        #expect(end == Self.samples[0].utf8.count - "body bytes".utf8.count)
        guard case .complete(let second, _) = outcomes[1] else {
            Issue.record("second sample incomplete")
            return
        }
        #expect(second.contentLength == 3 && !second.keepAlive)
        #expect(
            Array(outcomes[3...]) == [
                .failed(.malformedHeader), .failed(.invalidLineEnding), .failed(.conflictingContentLength), .needMore,
            ])
    }

    /// Random streams, some pure noise and some mutated valid heads, fed whole and in random pieces: nothing
    /// traps, `used` stays inside the chunk, and chunking never changes the outcome.
    @Test func seededRandomBytesNeverTrapAndChunkingNeverMatters() {
        var random = SeededGenerator(seed: 0x1157_FEED)
        let alphabet = Array("GET / HTTP/1.01:\r\n \tHost%zZ?&=+#*-ConentLgh,chunked".utf8) + [0, 0x7F, 0x80, 0xFF]
        let limits = RequestHeadParser.Limits(maxBytes: 256, maxHeaderCount: 8, maxTargetBytes: 64)
        var completed = 0
        for iteration in 0..<5_000 {
            var bytes: [UInt8]
            if iteration % 2 == 0 {
                bytes = Array(Self.samples[Int.random(in: 0..<Self.samples.count, using: &random)].utf8)
                for _ in 0..<Int.random(in: 1...4, using: &random) where !bytes.isEmpty {
                    let at = Int.random(in: 0..<bytes.count, using: &random)
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: bytes[at] = alphabet.randomElement(using: &random)!
                    case 1: bytes.remove(at: at)
                    default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
                    }
                }
            } else {
                let count = Int.random(in: 0...300, using: &random)
                bytes = (0..<count).map { _ in
                    Bool.random(using: &random)
                        ? alphabet.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
                }
            }
            var cuts: [Int] = []
            var offset = 0
            while bytes.count - offset > 1 {
                offset += Int.random(in: 1...max(1, min(40, bytes.count - offset - 1)), using: &random)
                if offset < bytes.count { cuts.append(offset) }
            }
            let whole = feedStream(bytes, limits: limits)
            let chunked = feedStream(bytes, cuts: cuts, limits: limits)
            #expect(whole == chunked, "iteration \(iteration)")
            if case .complete(_, let end) = whole {
                completed += 1
                #expect(end <= bytes.count)
            }
        }
        // Mutations must leave enough heads intact for the comparison above to cover the complete path too.
        #expect(completed > 200)
    }
}
