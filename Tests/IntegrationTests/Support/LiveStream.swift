import Foundation
import Testing

/// One live WebSocket connection read as a stream of livefeed envelopes, checking the per-connection promises of
/// the contract on every envelope: cursors never go backwards, `message` cursors strictly increase and equal the
/// message's `data.id`, no `error` envelope arrives, and (when `expectedEpoch` is set) every envelope but `status`
/// carries that epoch.
///
/// Owns its `WebSocketClient`. Snapshot envelopes (`channel_count`, `status`, ...) are kept in `envelopes` and
/// skipped by the message readers.
final class LiveStream {
    let client: WebSocketClient
    let path: String
    /// The database epoch every cursor-carrying envelope must name; nil skips the check.
    let expectedEpoch: String?
    /// Every envelope received, in order.
    private(set) var envelopes: [[String: Any]] = []
    /// The newest cursor seen on this connection.
    private(set) var lastCursor: Int?
    /// The id of the newest `message` envelope.
    private(set) var lastMessageID: Int?

    init(client: WebSocketClient, path: String, expectedEpoch: String? = nil) {
        self.client = client
        self.path = path
        self.expectedEpoch = expectedEpoch
    }

    /// Upgrades `path` on the server and wraps the connection.
    static func open(
        port: UInt16, path: String, expectedEpoch: String? = nil, headers: [(String, String)] = [],
        receiveBufferSize: Int32? = nil
    ) throws -> LiveStream {
        LiveStream(
            client: try WebSocketClient.connect(
                port: port, path: path, headers: headers, receiveBufferSize: receiveBufferSize),
            path: path, expectedEpoch: expectedEpoch)
    }

    /// Every `message` envelope's id, in arrival order.
    var messageIDs: [Int] { envelopes.filter { $0.string("type") == "message" }.compactMap(Self.messageID) }

    /// The envelopes of `type`, in arrival order.
    func envelopes(ofType type: String) -> [[String: Any]] { envelopes.filter { $0.string("type") == type } }

    /// Reads envelopes until one satisfies `predicate` and returns it; the others stay in `envelopes`.
    @discardableResult
    func next(
        _ description: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
        where predicate: ([String: Any]) -> Bool
    ) throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        let start = envelopes.count
        while true {
            let envelope: [String: Any]
            do {
                envelope = try nextEnvelope(timeout: deadline - .now, sourceLocation: sourceLocation)
            } catch let ended as WebSocketEnded {
                throw ended
            } catch {
                let seen = envelopes[start...].map(\.jsonText).joined(separator: "\n")
                throw TimedOut(
                    description: "\(path): no envelope \(description): \(error); received meanwhile:\n\(seen)")
            }
            if predicate(envelope) { return envelope }
        }
    }

    /// Reads the next envelope of any type and checks it.
    func nextEnvelope(timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) throws
        -> [String: Any]
    {
        let envelope = try client.readEnvelope(timeout: timeout)
        envelopes.append(envelope)
        check(envelope, sourceLocation: sourceLocation)
        return envelope
    }

    /// Reads envelopes until a `message` arrives and returns it.
    func nextMessage(timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) throws
        -> [String: Any]
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            let envelope = try nextEnvelope(timeout: deadline - .now, sourceLocation: sourceLocation)
            if envelope.string("type") == "message" { return envelope }
        }
    }

    /// Reads `message` envelopes until `ids.count` of them arrived, and expects exactly `ids`, in order: no gap, no
    /// duplicate, nothing else in between. Returns the messages.
    @discardableResult
    func expectMessages(
        _ ids: [Int], timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + timeout
        var messages: [[String: Any]] = []
        while messages.count < ids.count {
            do {
                messages.append(try nextMessage(timeout: deadline - .now, sourceLocation: sourceLocation))
            } catch {
                throw TimedOut(
                    description:
                        "\(path): expected message ids \(ids), got \(messages.map(Self.messageID)) then \(error)")
            }
        }
        let received = messages.map(Self.messageID)
        #expect(received == ids, "\(path): message ids in arrival order", sourceLocation: sourceLocation)
        return messages
    }

    /// Reads until the connection ends (checking envelopes that still arrive) and returns how it ended.
    func awaitEnding(timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) throws
        -> WebSocketEnding
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                _ = try nextEnvelope(timeout: deadline - .now, sourceLocation: sourceLocation)
            } catch let ended as WebSocketEnded {
                return ended.ending
            }
        }
    }

    /// Closes with 1000 (bounded wait for the server's answer).
    func close() { client.close() }

    static func messageID(_ envelope: [String: Any]) -> Int? { envelope.object("data")?.int("id") }

    private func check(_ envelope: [String: Any], sourceLocation: SourceLocation) {
        let type = envelope.string("type") ?? "<no type>"
        if type == "error" {
            Issue.record("\(path): error envelope \(envelope.jsonText)", sourceLocation: sourceLocation)
        }
        if let expectedEpoch, type != "status", type != "error", envelope.string("epoch") != expectedEpoch {
            let epoch = envelope.string("epoch") ?? "missing"
            Issue.record(
                "\(path): epoch \(epoch), expected \(expectedEpoch): \(envelope.jsonText)",
                sourceLocation: sourceLocation)
        }
        if let cursor = envelope.int("cursor") {
            if let lastCursor, cursor < lastCursor {
                Issue.record(
                    "\(path): cursor went back from \(lastCursor) to \(cursor) in \(envelope.jsonText)",
                    sourceLocation: sourceLocation)
            }
            lastCursor = max(lastCursor ?? cursor, cursor)
        }
        guard type == "message" else { return }
        let id = Self.messageID(envelope)
        let cursor = envelope.int("cursor")
        #expect(
            id != nil && cursor == id, "\(path): message cursor must equal data.id: \(envelope.jsonText)",
            sourceLocation: sourceLocation)
        if let id, let lastMessageID, id <= lastMessageID {
            Issue.record("\(path): message \(id) after message \(lastMessageID)", sourceLocation: sourceLocation)
        }
        if let id { lastMessageID = max(lastMessageID ?? id, id) }
    }
}
