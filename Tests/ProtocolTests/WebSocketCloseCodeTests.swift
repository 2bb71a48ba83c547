import LivefeedProtocol
import Testing

@Suite struct WebSocketCloseCodeTests {
    @Test func wireValues() {
        let codes: [(WebSocketCloseCode, UInt16)] = [
            (.normal, 1000), (.goingAway, 1001), (.protocolError, 1002), (.unsupportedData, 1003),
            (.invalidPayload, 1007), (.policyViolation, 1008), (.messageTooBig, 1009), (.mandatoryExtension, 1010),
            (.internalError, 1011), (.serviceRestart, 1012), (.tryAgainLater, 1013), (.tooFarBehind, 4000),
            (.epochChanged, 4001),
        ]
        for (code, raw) in codes {
            #expect(code.rawValue == raw)
            #expect(code.isValidOnWire)
        }
    }

    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999])
    func codeAllowedOnWire(raw: UInt16) {
        #expect(WebSocketCloseCode(rawValue: raw).isValidOnWire)
    }

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
    func codeReservedOrUnassigned(raw: UInt16) {
        #expect(!WebSocketCloseCode(rawValue: raw).isValidOnWire)
    }
}
