extension String {
    /// `String(validating: bytes, as: UTF8.self)`, without its cost in the common case. That initializer is generic
    /// over the encoding and the standard library does not specialize it, so every call looked up type metadata at
    /// run time: in a profile of 10,000 WebSocket handshakes, 40 of ~1,400 samples of supervisor and workers went
    /// to it (header values, record keys and strings). ASCII is valid UTF-8 and decodes the same either way, so it
    /// takes the specialized `String(decoding:as:)`; anything else is validated as before.
    package static func ifValidUTF8(_ bytes: ArraySlice<UInt8>) -> String? {
        var ascii = true
        for byte in bytes where byte >= 0x80 {
            ascii = false
            break
        }
        return ascii ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
    }

    package static func ifValidUTF8(_ bytes: [UInt8]) -> String? {
        ifValidUTF8(bytes[...])
    }
}
