import LivefeedProtocol

/// Builds client→server frames for tests: masked unless told otherwise, with knobs for breaking each rule.
/// Written independently of `WebSocketFrameEncoder` so the two can check each other.
struct WebSocketTestFrame {
    var opcode: UInt8
    var payload: [UInt8]
    var fin = true
    var reservedBits: UInt8 = 0
    var masked = true
    var maskingKey: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

    init(_ opcode: WebSocketOpcode, _ payload: [UInt8] = [], fin: Bool = true) {
        self.opcode = opcode.rawValue
        self.payload = payload
        self.fin = fin
    }

    init(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) {
        self.init(opcode, Array(text.utf8), fin: fin)
    }

    init(rawOpcode: UInt8, _ payload: [UInt8] = []) {
        self.opcode = rawOpcode
        self.payload = payload
    }

    var bytes: [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | reservedBits << 4 | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count < 126 {
            out.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            out += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            out.append(maskBit | 127)
            out += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        guard masked else { return out + payload }
        out += maskingKey
        out += payload.enumerated().map { $0.element ^ maskingKey[$0.offset % 4] }
        return out
    }

    static func close(_ code: UInt16, _ reason: [UInt8] = []) -> WebSocketTestFrame {
        WebSocketTestFrame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }

    /// A masked header announcing `length` payload bytes, with no payload after it.
    static func header(_ opcode: WebSocketOpcode, length: UInt64, fin: Bool = true) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode.rawValue]
        if length < 126 {
            out.append(0x80 | UInt8(length))
        } else if length <= 0xFFFF {
            out += [0x80 | 126, UInt8(length >> 8), UInt8(length & 0xFF)]
        } else {
            out.append(0x80 | 127)
            out += (0..<8).reversed().map { UInt8((length >> UInt64($0 * 8)) & 0xFF) }
        }
        return out + [1, 2, 3, 4]
    }
}


extension WebSocketConnectionState {
    /// Feeds `bytes` in pieces ending at each of `cuts` and concatenates the actions.
    mutating func receive(_ bytes: [UInt8], cuttingAt cuts: [Int]) -> [WebSocketAction] {
        var actions: [WebSocketAction] = []
        var start = 0
        for cut in cuts.map({ min($0, bytes.count) }) + [bytes.count] where cut >= start {
            actions += receive(Array(bytes[start..<cut]))
            start = cut
        }
        return actions
    }
}

func closeActions(_ code: WebSocketCloseCode, _ error: WebSocketProtocolError) -> [WebSocketAction] {
    [.send(WebSocketFrameEncoder.closeFrame(code)), .closeConnection(code: code, reason: error.description)]
}
