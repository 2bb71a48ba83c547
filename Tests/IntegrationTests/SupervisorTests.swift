import Foundation
import Testing

/// What the supervisor answers itself, and how it stops.
struct SupervisorTests {
    @Test func healthzReportsEveryWorkerUp() throws {
        try withLivefeed(workers: 2) { server in
            var last: HTTPResponse?
            let health = try eventuallyValue(
                timeout: .seconds(10), "/healthz 200 with workers_up 2; last: \(String(describing: last))"
            ) {
                () -> [String: Any]? in
                let response = try server.http.get("/healthz")
                last = response
                guard response.status == 200, let body = try? response.jsonObject() else { return nil }
                return body.int("workers_up") == 2 ? body : nil
            }
            #expect(health.int("workers_up") == 2)
        }
    }

    @Test func sigtermEndsOpenConnectionsAndExitsZero() throws {
        try withLivefeed(workers: 2) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "hello")
            let channelID = try api.channelID(named: "general")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)")
            defer { stream.close() }
            try stream.expectMessages([try api.post(text: "live before stop")])
            let idle = try HTTPConnection(port: server.port)
            defer { idle.close() }
            #expect(try idle.get("/api/metrics").status == 200)

            let status = server.stop()
            #expect(status == .exited(0), "stderr:\n\(server.stderrTail())")

            // A graceful stop closes live clients with a close frame that tells them to come back (1012) or, at
            // least, that the server is going away (1001); never a bare drop.
            let ending = try stream.awaitEnding(timeout: .seconds(5))
            switch ending {
            case .closeFrame(let code, _):
                #expect(code == 1012 || code == 1001, "close code on shutdown: \(ending)")
            default:
                Issue.record("live client saw \(ending) on shutdown, not a close frame")
            }
            #expect(idle.serverClosed(within: .seconds(5)), "keep-alive connection still open after exit")
        }
    }
}
