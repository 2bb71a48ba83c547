import Foundation
import Testing

/// One live WebSocket connection read as a stream of livefeed envelopes, checking the per-connection promises of
/// the contract on every envelope: cursors never go backwards, `message` cursors strictly increase and equal the
/// message's `data.id`, and no `error` envelope arrives.
///
/// Owns its `WebSocketClient`. Snapshot envelopes (`channel_count`, `status`, ...) are kept in `envelopes` and
/// skipped by the message readers.
final class LiveStream {
    let client: WebSocketClient
    let path: String
    /// Every envelope received, in order.
    private(set) var envelopes: [[String: Any]] = []
    /// The newest cursor seen on this connection.
    private(set) var lastCursor: Int?
    /// The id of the newest `message` envelope.
    private(set) var lastMessageID: Int?

    init(client: WebSocketClient, path: String) {
        self.client = client
        self.path = path
    }

    /// Upgrades `path` on the server and wraps the connection.
    static func open(port: UInt16, path: String) throws -> LiveStream {
        LiveStream(client: try WebSocketClient.connect(port: port, path: path), path: path)
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
