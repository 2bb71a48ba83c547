import Foundation
import Glibc
import Testing

/// HTTP/1.1 pipelining from a client that never reads its answers must not grow the worker without bound: the
/// worker stops answering, and stops reading, once a bounded amount of answers waits unread.
struct PipeliningTests {
    @Test func clientThatPipelinesWithoutReadingIsThrottledNotBuffered() throws {
        try withLivefeed(workers: 1) { server in
            #expect(try LivefeedAPI(server).post(text: "a page with something on it") > 0)
            let worker = try #require(server.workerPIDs()[0])
            let rssBefore = try #require(ProcFile.residentBytes(of: worker))

            let client = try TCPSocket(connectingToPort: server.port, receiveBufferSize: 4096)
            defer { client.close() }
            let request = Array("GET /channels HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            let chunk = Array(repeating: request, count: 1 << 20 / request.count).flatMap { $0 }
            // 40 MiB of requests would be gigabytes of answers if the worker kept answering into memory.
            var sentChunks = 0
            var stalled = false
            while sentChunks < 40 {
                do {
                    try client.send(chunk, timeout: .seconds(2))
                    sentChunks += 1
                } catch SocketError.timedOut {
                    stalled = true
                    break
                }
            }
            #expect(stalled, "the worker kept reading \(sentChunks) MiB of requests it could not answer")
            let rssAfter = try #require(ProcFile.residentBytes(of: worker))
            #expect(rssAfter - rssBefore < 32 << 20, "worker RSS grew from \(rssBefore) to \(rssAfter) bytes")

            // The throttled client reads again and gets answers; others were served all along.
            let answer = try client.read(
                until: Array("\r\n\r\n".utf8), limit: 1 << 16, deadline: .now + .seconds(10), waitingFor: "an answer")
            #expect(String(decoding: answer.prefix(15), as: UTF8.self) == "HTTP/1.1 200 OK")
            #expect(try server.http.get("/api/metrics").status == 200)
        }
    }
}

/// The same for WebSocket: a live client that floods pings but never reads the pongs is not buffered without bound.
struct PingFloodTests {
    @Test func liveClientFloodingPingsWithoutReadingIsThrottledNotBuffered() throws {
        try withLivefeed(workers: 1) { server in
            let first = try LivefeedAPI(server).post(text: "creates the channel")
            let channel = try LivefeedAPI(server).channelID(named: "general")
            let worker = try #require(server.workerPIDs()[0])
            let rssBefore = try #require(ProcFile.residentBytes(of: worker))
            guard
                case .upgraded(let client) = try WebSocketClient.handshake(
                    port: server.port, path: "/live/channels/\(channel)?after_id=\(first)", receiveBufferSize: 4096)
            else {
                Issue.record("upgrade refused")
                return
            }
            defer { client.close() }

            // One masked ping with a 125-byte payload, repeated: 32 MiB of pings would be as many bytes of pongs.
            var ping: [UInt8] = [0x89, 0x80 | 125, 1, 2, 3, 4]
            ping += (0..<125).map { UInt8($0) ^ [1, 2, 3, 4][$0 % 4] }
            let chunk = Array(repeating: ping, count: (1 << 20) / ping.count).flatMap { $0 }
            var sent = 0
            var stalled = false
            while sent < 32 {
                do {
                    try client.socket.send(chunk, timeout: .seconds(2))
                    sent += 1
                } catch SocketError.timedOut {
                    stalled = true
                    break
                } catch SocketError.resetByPeer {
                    stalled = true  // closed for not answering its own heartbeat is fine too
                    break
                }
            }
            #expect(stalled, "the worker kept reading \(sent) MiB of pings it could not answer")
            let rssAfter = try #require(ProcFile.residentBytes(of: worker))
            #expect(rssAfter - rssBefore < 32 << 20, "worker RSS grew from \(rssBefore) to \(rssAfter) bytes")
            #expect(try server.http.get("/api/metrics").status == 200)
        }
    }
}
