/// Appends JSON text to a byte buffer without Foundation: envelopes, API bodies and log lines are written
/// once per event, so they are built directly as UTF-8 bytes.
package struct JSONWriter {
    package private(set) var bytes: [UInt8]
    /// One bit per open container, innermost lowest: whether the next value there needs a comma first. The
    /// writers in this package nest a few levels; 63 is far beyond them.
    private var commaBits: UInt64 = 0
    private var depth = 0

    package init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    package mutating func beginObject() {
        separator()
        bytes.append(UInt8(ascii: "{"))
        push()
    }

    package mutating func endObject() {
        pop()
        bytes.append(UInt8(ascii: "}"))
    }

    package mutating func beginArray() {
        separator()
        bytes.append(UInt8(ascii: "["))
        push()
    }

    package mutating func endArray() {
        pop()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes `"name":` inside an object; the next value call supplies the value.
    package mutating func key(_ name: String) {
        separator()
        Self.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        commaBits &= ~1
    }

    package mutating func value(_ s: String) {
        separator()
        Self.appendString(s, to: &bytes)
    }

    package mutating func value(_ n: Int64) {
        separator()
        Self.appendDecimal(n, to: &bytes)
    }

    package mutating func value(_ n: Int) { value(Int64(n)) }

    package mutating func value(_ b: Bool) {
        separator()
        bytes += (b ? "true" : "false").utf8
    }

    package mutating func null() {
        separator()
        bytes += "null".utf8
    }

    package mutating func field(_ name: String, _ s: String) {
        key(name)
        value(s)
    }

    package mutating func field(_ name: String, _ n: Int64) {
        key(name)
        value(n)
    }

    package mutating func field(_ name: String, _ n: Int) {
        key(name)
        value(Int64(n))
    }

    package mutating func field(_ name: String, _ b: Bool) {
        key(name)
        value(b)
    }

    /// Splices already-encoded JSON (for example a pre-rendered object) as the next value.
    package mutating func raw(_ json: [UInt8]) {
        separator()
        bytes += json
    }

    private mutating func separator() {
        if commaBits & 1 != 0 {
            bytes.append(UInt8(ascii: ","))
        } else {
            commaBits |= 1
        }
    }

    private mutating func push() {
        precondition(depth < 63, "JSON nested deeper than JSONWriter supports")
        depth += 1
        commaBits <<= 1
    }

    private mutating func pop() {
        precondition(depth > 0, "JSON container closed that was not opened")
        depth -= 1
        commaBits >>= 1
    }

    /// RFC 8259 string escaping; also escapes `<`, `>` and `&` so JSON embedded in HTML stays inert,
    /// and U+2028/U+2029 for JavaScript consumers. Runs of bytes that need nothing are copied whole.
    package static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { appendEscaped($0, to: &out) }
        out.append(UInt8(ascii: "\""))
    }

    /// Whether `c` is written as an escape (or, for 0xE2, may start U+2028/U+2029).
    @inline(__always)
    private static func needsEscape(_ c: UInt8) -> Bool {
        c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c == UInt8(ascii: "<")
            || c == UInt8(ascii: ">") || c == UInt8(ascii: "&") || c == 0xE2
    }

    private static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let count = bytes.count
        var runStart = 0
        var i = 0
        while i < count {
            let c = bytes[i]
            guard needsEscape(c) else {
                i += 1
                continue
            }
            if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
            i += 1
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(c)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0xE2:
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9; any other E2 sequence is copied as it is.
                if i + 1 < count && bytes[i] == 0x80 && (bytes[i + 1] == 0xA8 || bytes[i + 1] == 0xA9) {
                    out.append(contentsOf: "\\u202".utf8)
                    out.append(bytes[i + 1] == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9"))
                    i += 2
                } else {
                    out.append(c)
                }
            default:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigit(c >> 4))
                out.append(hexDigit(c & 0xF))
            }
            runStart = i
        }
        if runStart < count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<count])) }
    }

    @inline(__always)
    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10 }

    /// Decimal digits of `n`, without building a String.
    package static func appendDecimal(_ n: Int64, to out: inout [UInt8]) {
        if n < 0 { out.append(UInt8(ascii: "-")) }
        var v = n.magnitude
        // 20 digits hold UInt64.max; written backwards into a fixed buffer on the stack.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var k = 20
            repeat {
                k -= 1
                digits[k] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            } while v > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[k..<20]))
        }
    }
}
