import LivefeedProtocol
import Testing

@Suite struct UTF8StreamValidatorTests {
    @Test(arguments: [
        "", "plain ASCII, long enough for the eight-byte path", "κόσμε", "€ 𝄞 😀 \u{10FFFF} \u{D7FF} \u{E000}",
    ])
    func wellFormedTextIsValidAtEverySplit(text: String) {
        let bytes = Array(text.utf8)
        #expect(UTF8StreamValidator.isValid(bytes))
        for cut in 0...bytes.count {
            var validator = UTF8StreamValidator()
            let first = bytes[..<cut].withUnsafeBytes { validator.validate($0) }
            let second = bytes[cut...].withUnsafeBytes { validator.validate($0) }
            #expect(first && second && validator.isAtBoundary, "cut at \(cut)")
        }
    }

    @Test(
        arguments: [
            [0xC0, 0x80], [0xC1, 0xBF],  // overlong two-byte
            [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],  // overlong three-byte
            [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],  // overlong four-byte
            [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],  // surrogates
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF],  // above U+10FFFF
            [0x80], [0xBF], [0xC2, 0x41], [0xE1, 0x80, 0x41],  // stray or missing continuation
        ] as [[UInt8]])
    func malformedSequenceIsRejected(bytes: [UInt8]) {
        #expect(!UTF8StreamValidator.isValid(bytes))
    }

    @Test(arguments: [[0xC2], [0xE2, 0x82], [0xF0, 0x9F, 0x98]] as [[UInt8]])
    func truncatedSequenceIsNotAtBoundary(bytes: [UInt8]) {
        var validator = UTF8StreamValidator()
        #expect(bytes.withUnsafeBytes { validator.validate($0) })
        #expect(!validator.isAtBoundary)
        #expect(!UTF8StreamValidator.isValid(bytes))
    }

    @Test func failsAtTheFirstBadByte() {
        // Autobahn 6.4.x's payload: the surrogate lead 0xED 0xA0 is decided at the 0xA0.
        let bytes: [UInt8] = Array("κόσμε".utf8) + [0xED, 0xA0, 0x80] + Array("edited".utf8)
        var validator = UTF8StreamValidator()
        var failedAt: Int?
        for (offset, byte) in bytes.enumerated() where failedAt == nil {
            if ![byte].withUnsafeBytes({ validator.validate($0) }) {
                failedAt = offset
            }
        }
        #expect(failedAt == 11)
    }

    @Test func agreesWithTheStandardLibraryOnShortSequences() {
        var inputs: [[UInt8]] = (0...0xFF).map { [UInt8($0)] }
        for lead in 0...0xFF {
            for second in 0...0xFF {
                inputs.append([UInt8(lead), UInt8(second)])
            }
        }
        for lead in 0xE0...0xF7 {
            for second in 0...0xFF {
                for tail in [[0x80], [0xBF], [0x41], [0x80, 0x80], [0xBF, 0xBF], [0x80, 0xC0]] as [[UInt8]] {
                    inputs.append([UInt8(lead), UInt8(second)] + tail)
                }
            }
        }
        var mismatches: [[UInt8]] = []
        for input in inputs
        where UTF8StreamValidator.isValid(input) != (String(validating: input, as: UTF8.self) != nil) {
            mismatches.append(input)
        }
        #expect(mismatches.isEmpty)
    }
}
