/// Appends JSON text to a byte buffer without Foundation: envelopes, API bodies and log lines are written
/// once per event, so they are built directly as UTF-8 bytes.
package struct JSONWriter {
    package private(set) var bytes: [UInt8]
    private var needsComma: [Bool] = [false]

    package init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    package mutating func beginObject() {
        separator()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    package mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    package mutating func beginArray() {
        separator()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    package mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes `"name":` inside an object; the next value call supplies the value.
    package mutating func key(_ name: String) {
        separator()
        Self.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    package mutating func value(_ s: String) {
        separator()
        Self.appendString(s, to: &bytes)
    }

    package mutating func value(_ n: Int64) {
        separator()
        bytes += String(n).utf8
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
        if needsComma[needsComma.count - 1] {
            bytes.append(UInt8(ascii: ","))
        } else {
            needsComma[needsComma.count - 1] = true
        }
    }

    /// RFC 8259 string escaping; also escapes `<`, `>` and `&` so JSON embedded in HTML stays inert,
    /// and U+2028/U+2029 for JavaScript consumers.
    package static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var utf8 = s.utf8.makeIterator()
        var pending: [UInt8] = []
        while let c = utf8.next() {
            switch c {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(c >> 4)], hex[Int(c & 0xF)]]
            case 0xE2:
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                pending = [c]
                if let b1 = utf8.next() {
                    pending.append(b1)
                    if b1 == 0x80, let b2 = utf8.next() {
                        if b2 == 0xA8 || b2 == 0xA9 {
                            out += Array("\\u202".utf8) + [b2 == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9")]
                            pending = []
                            continue
                        }
                        pending.append(b2)
                    }
                }
                out += pending
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
