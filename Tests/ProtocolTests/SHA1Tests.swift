import LivefeedProtocol
import Testing

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

@Suite struct SHA1Tests {
    @Test func abcMatchesFIPSExample() {
        #expect(hex(SHA1.digest("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    @Test func emptyMessage() {
        #expect(hex(SHA1.digest([UInt8]())) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }

    @Test func fourHundredFortyEightBitMessageNeedsTwoBlocks() {
        let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(hex(SHA1.digest(message.utf8)) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }

    @Test func oneMillionAs() {
        #expect(
            hex(SHA1.digest([UInt8](repeating: 0x61, count: 1_000_000))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test func rfc3174RepeatedDigits() {
        let message = String(repeating: "01234567", count: 80)
        #expect(hex(SHA1.digest(message.utf8)) == "dea356a2cddd90c7a7ecedc5ebb563934f460452")
    }

    @Test func updatesSplitAnywhereMatchOneShot() {
        let message = Array(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 4).utf8)
        let expected = SHA1.digest(message)
        for cut in 0...message.count {
            var hash = SHA1()
            hash.update(message[..<cut])
            hash.update(message[cut...])
            #expect(hash.finalize() == expected, "cut at \(cut)")
        }
    }

    @Test func paddingBoundaryLengths() {
        // 55, 56 and 64 bytes are where the length field stops fitting in the last block.
        let expected = [
            55: "c1c8bbdc22796e28c0e15163d20899b65621d65a",
            56: "c2db330f6083854c99d4b5bfb6e8f29f201be699",
            64: "0098ba824b5c16427bd7a1122a5a442a25ec644d",
        ]
        for (length, digest) in expected {
            #expect(hex(SHA1.digest([UInt8](repeating: 0x61, count: length))) == digest, "length \(length)")
        }
    }
}
