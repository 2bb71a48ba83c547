import Foundation
import Glibc
import Testing

/// Every state of a connection has a deadline that a slow or silent peer cannot push back: the whole request (head
/// and body) from its first byte, and queued output that stops moving. Limits are configured once: the door's
/// `--max-head-bytes` is the worker's too.
struct DeadlineTests {
    @Test func aBodySentAByteAtATimeIsCutAtTheRequestDeadline() throws {
        try withLivefeed(workers: 1, arguments: ["--request-timeout-ms", "1500"]) { server in
            let client = try TCPSocket(connectingToPort: server.port)
            defer { client.close() }
            let head = "POST /api/messages HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            try client.send(Array(head.utf8))
            let started = ContinuousClock.now
            var answered = false
            // One byte every 100 ms: each read would have reset an inactivity timer forever.
            for _ in 0..<80 where !answered {
                try? client.send([UInt8(ascii: "[")], timeout: .seconds(1))
                usleep(100_000)
                answered = client.isReadable()
            }
            #expect(answered, "no answer while the body trickled in for 8 s")
            let response = try client.read(
                until: Array("\r\n\r\n".utf8), limit: 4096, deadline: .now + .seconds(5), waitingFor: "the 408")
            #expect(String(decoding: response.prefix(12), as: UTF8.self) == "HTTP/1.1 408")
            #expect(ContinuousClock.now - started < .seconds(6))
        }
    }

    @Test func aClientThatStopsReadingIsClosedAtTheSendDeadline() throws {
        try withLivefeed(workers: 1, arguments: ["--send-timeout-ms", "1500"]) { server in
            #expect(try LivefeedAPI(server).post(text: "a page with something on it") > 0)
            let client = try TCPSocket(connectingToPort: server.port, receiveBufferSize: 4096)
            defer { client.close() }
            let request = Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            try client.send(Array(repeating: request, count: 300).flatMap { $0 }, timeout: .seconds(5))
            // Never read: the answers fill the socket, then the worker's queue, and stop moving.
            try eventually(timeout: .seconds(15), "the worker closes the stalled connection") {
                server.logLines().contains { $0.string("event") == "connection_closed" && $0.string("reason") == "send_timeout" }
            }
            try eventually(timeout: .seconds(10), "its slot is free") {
                try server.prometheusSamples()["livefeed_connections_open"] == 0
            }
        }
    }

    @Test func aLiveClientThatBreaksTheProtocolWithOutputQueuedIsClosedWithinTheCloseGrace() throws {
        // The send timeout stays at its 30 s default: the close handshake's own deadline must end this.
        let bounds = ["--max-queue-bytes", "16777216", "--max-queue-frames", "100000"]
        try withLivefeed(workers: 1, arguments: bounds) { server in
            let api = LivefeedAPI(server)
            let start = try api.post(channel: "bulk", user: "alice", text: "start")
            let padding = String(repeating: "z", count: 8000)
            // 7.7 MB: more than the kernel's socket buffers take (up to 4 MiB of send buffer on loopback), so the
            // rest waits in the worker.
            for batch in 0..<8 {
                try api.post((1...120).map { ["channel": "bulk", "user": "alice", "text": "\(batch) \($0) \(padding)"] })
            }
            let channelID = try api.channelID(named: "bulk")
            let client = try WebSocketClient.connect(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(start)", receiveBufferSize: 4096)
            defer { client.socket.close() }
            // The replay fills the socket, then the worker's queue for this client, and stops there: it never reads.
            // A client that does not read still takes a trickle (the kernel collapses its receive queue on window
            // probes): megabytes queued take minutes to trickle out, and each trickle is progress to the send timeout.
            try eventually(timeout: .seconds(20), "megabytes queued for the client") {
                try server.prometheusSamples()
                    .filter { $0.key.hasPrefix("livefeed_worker_queued_bytes") }.values.reduce(0, +) > 1_000_000
            }
            // An unmasked frame from a client is a protocol error (RFC 6455 5.1): the worker answers with a close
            // frame, queued behind everything else, and must not wait for a peer that does not read.
            try client.socket.send([0x81, 0x01, UInt8(ascii: "A")], timeout: .seconds(1))
            let sent = ContinuousClock.now
            try eventually(timeout: .seconds(8), "the connection is closed") {
                server.logLines().contains {
                    $0.string("event") == "connection_closed" && $0.string("reason") == "protocol_error"
                }
            }
            #expect(ContinuousClock.now - sent < .seconds(6))
        }
    }

    @Test func theDoorsHeadLimitIsTheWorkersToo() throws {
        try withLivefeed(workers: 1, arguments: ["--max-head-bytes", "32768"]) { server in
            let padding = String(repeating: "a", count: 20_000)
            let response = try server.http.get("/api/metrics", headers: [("X-Padding", padding)])
            #expect(response.status == 200, "a 20 KB head under a 32 KiB limit: \(response)")
        }
    }
}
