/// A WebSocket close status code (RFC 6455 §7.4, the IANA "WebSocket Close Code Number" registry, and livefeed's
/// own codes in the private 4000–4999 range). Each wire value is written once, here.
package struct WebSocketCloseCode: RawRepresentable, Hashable, Sendable {
    package var rawValue: UInt16

    package init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    package static let normal = WebSocketCloseCode(rawValue: 1000)
    package static let goingAway = WebSocketCloseCode(rawValue: 1001)
    package static let protocolError = WebSocketCloseCode(rawValue: 1002)
    package static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    package static let invalidPayload = WebSocketCloseCode(rawValue: 1007)
    package static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    package static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    package static let mandatoryExtension = WebSocketCloseCode(rawValue: 1010)
    package static let internalError = WebSocketCloseCode(rawValue: 1011)
    package static let serviceRestart = WebSocketCloseCode(rawValue: 1012)
    package static let tryAgainLater = WebSocketCloseCode(rawValue: 1013)

    /// livefeed: the client fell further behind than the server buffers for it.
    package static let tooFarBehind = WebSocketCloseCode(rawValue: 4000)
    /// livefeed: the stream's epoch changed, so the client must resynchronise.
    package static let epochChanged = WebSocketCloseCode(rawValue: 4001)
    /// livefeed: the client's cursor is beyond the newest id this database ever had: it came from another copy of
    /// the data (a backup restored, a file replaced), so the client must resynchronise.
    package static let cursorAhead = WebSocketCloseCode(rawValue: 4002)

    /// Whether a peer may send this code in a close frame: 1000–1003 and 1007–1014 (1004 is reserved; 1005, 1006
    /// and 1015 are for local reporting only; 1016–2999 are unassigned or reserved for extensions), plus 3000–4999
    /// (registered and private use).
    package var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
