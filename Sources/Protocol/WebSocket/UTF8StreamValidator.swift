/// Checks UTF-8 that arrives in pieces split anywhere, stopping at the first byte that cannot belong to well-formed
/// UTF-8 (Unicode Table 3-7: no overlongs, no surrogates U+D800–DFFF, nothing above U+10FFFF). Once `validate`
/// has returned false the state is meaningless until `init` again.
package struct UTF8StreamValidator: Sendable {
    private var continuationsLeft: UInt8 = 0
    // The allowed range of the next continuation byte; only the first one after a lead byte is ever narrower.
    private var lowerBound: UInt8 = 0x80
    private var upperBound: UInt8 = 0xBF

    package init() {}

    /// True when no code point is half-read: the bytes so far end a complete sequence.
    package var isAtBoundary: Bool {
        continuationsLeft == 0
    }

    package static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
        var validator = UTF8StreamValidator()
        let valid: Bool? = bytes.withContiguousStorageIfAvailable { buffer in
            validator.validate(UnsafeRawBufferPointer(buffer))
        }
        return (valid ?? Array(bytes).withUnsafeBytes { validator.validate($0) }) && validator.isAtBoundary
    }

    /// Continues validation with `bytes`; false as soon as one is invalid.
    package mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            if continuationsLeft == 0 {
                // Text is mostly ASCII: skip eight bytes at a time while no high bit is set.
                while count - index >= 8,
                    bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
                {
                    index += 8
                }
                guard index < count else { break }
                let byte = bytes[index]
                index += 1
                if byte < 0x80 { continue }
                switch byte {
                case 0xC2...0xDF: expect(1, 0x80, 0xBF)
                case 0xE0: expect(2, 0xA0, 0xBF)
                case 0xE1...0xEC, 0xEE...0xEF: expect(2, 0x80, 0xBF)
                case 0xED: expect(2, 0x80, 0x9F)
                case 0xF0: expect(3, 0x90, 0xBF)
                case 0xF1...0xF3: expect(3, 0x80, 0xBF)
                case 0xF4: expect(3, 0x80, 0x8F)
                default: return false
                }
            } else {
                let byte = bytes[index]
                guard byte >= lowerBound && byte <= upperBound else { return false }
                index += 1
                continuationsLeft -= 1
                lowerBound = 0x80
                upperBound = 0xBF
            }
        }
        return true
    }

    private mutating func expect(_ continuations: UInt8, _ lower: UInt8, _ upper: UInt8) {
        continuationsLeft = continuations
        lowerBound = lower
        upperBound = upper
    }
}
