import Foundation
import Testing

/// Heartbeats with `--ping-interval-ms 300 --ping-timeout-ms 500`: the server pings a silent connection, keeps one
/// that answers, and closes one that does not within interval + timeout + its 250 ms sweep, with slack for a
/// loaded machine (asserted: 5 s).
struct HeartbeatTests {
    static let arguments = ["--ping-interval-ms", "300", "--ping-timeout-ms", "500"]
    static let closeDeadline: Duration = .seconds(5)

    @Test func clientThatAnswersPingsStaysConnectedForSeconds() throws {
        try withLivefeed(arguments: Self.arguments) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "first")
            let channelID = try api.channelID(named: "general")
            let client = try WebSocketClient.connect(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)")
            defer { client.close() }

            // Answer every ping with a pong carrying the same payload, send nothing else, for 3.5 s.
            var pings = 0
            let end = ContinuousClock.now + .milliseconds(3500)
            while ContinuousClock.now < end {
                let frame: WebSocketFrame
                do {
                    frame = try client.readFrame(deadline: end)
                } catch SocketError.timedOut {
                    break
                }
                switch frame.opcode {
                case .ping:
                    pings += 1
                    try client.sendPong(frame.payload)
                case .close:
                    let code = frame.closeCode.map(String.init) ?? "no code"
                    Issue.record("closed while answering pings: \(code) \(frame.closeReason)")
                    return
                default:
                    break
                }
            }
            // One ping per ~300-550 ms; demand far fewer than that so a loaded machine does not fail the test.
            #expect(pings >= 2, "only \(pings) pings in 3.5 s")

            // Still subscribed: a new message arrives.
            let stream = LiveStream(client: client, path: "/live/channels/\(channelID)")
            try stream.expectMessages([try api.post(text: "still here")])
            #expect(server.connectionClosedRecords(clientPort: client.localPort).isEmpty)
        }
    }

    @Test func clientThatReadsButNeverAnswersPingsIsClosedAsPingTimeout() throws {
        try withLivefeed(arguments: Self.arguments) { server in
            let client = try WebSocketClient.connect(port: server.port, path: "/live/metrics")
            defer { client.close() }
            let clientPort = client.localPort
            let opened = ContinuousClock.now

            var pings = 0
            var ending: WebSocketEnding?
            while ending == nil {
                do {
                    let frame = try client.readFrame(deadline: opened + Self.closeDeadline)
                    if frame.opcode == .ping { pings += 1 }
                    if frame.opcode == .close { ending = .closeFrame(code: frame.closeCode, reason: frame.closeReason) }
                } catch SocketError.closedByPeer {
                    ending = .endOfStream
                } catch SocketError.resetByPeer {
                    ending = .reset
                } catch SocketError.timedOut {
                    Issue.record("still open \(Self.closeDeadline) after connecting, having ignored \(pings) pings")
                    return
                }
            }
            #expect(pings >= 1, "closed (\(ending!)) without being pinged first")
            let record = try server.waitForConnectionClosed(clientPort: clientPort)
            #expect(record.string("reason") == "ping_timeout", "\(record.jsonText)")
            #expect(record.string("view") == "metrics", "\(record.jsonText)")
        }
    }

    @Test func clientThatNeverReadsIsClosedAsPingTimeout() throws {
        try withLivefeed(arguments: Self.arguments) { server in
            let client = try WebSocketClient.connect(port: server.port, path: "/live/users")
            defer { client.close() }
            let clientPort = client.localPort
            let opened = ContinuousClock.now

            // Not one read until the server has given up on it.
            let record = try server.waitForConnectionClosed(clientPort: clientPort, timeout: Self.closeDeadline)
            let elapsed = ContinuousClock.now - opened
            #expect(record.string("reason") == "ping_timeout", "\(record.jsonText)")
            #expect(record.string("view") == "users", "\(record.jsonText)")
            #expect(elapsed < Self.closeDeadline)

            // What is on the socket ends; a ping was among it.
            var opcodes: [WebSocketOpcode] = []
            do {
                while true { opcodes.append(try client.readFrame(timeout: .seconds(5)).opcode) }
            } catch let error as SocketError {
                #expect(error.isPeerGone, "after ping_timeout the socket should end: \(error)")
            }
            #expect(opcodes.contains(.ping), "frames before the end: \(opcodes)")
        }
    }
}
