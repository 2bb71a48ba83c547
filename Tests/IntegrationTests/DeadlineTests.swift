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

    @Test func theDoorsHeadLimitIsTheWorkersToo() throws {
        try withLivefeed(workers: 1, arguments: ["--max-head-bytes", "32768"]) { server in
            let padding = String(repeating: "a", count: 20_000)
            let response = try server.http.get("/api/metrics", headers: [("X-Padding", padding)])
            #expect(response.status == 200, "a 20 KB head under a 32 KiB limit: \(response)")
        }
    }
}
