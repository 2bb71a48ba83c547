import Foundation
import Glibc
import Testing

/// What the supervisor tells operators: /metrics counters equal to what happened, /status, structured logs.
struct ObservabilityTests {
    @Test func metricsCountersEqualWhatTheTestDid() throws {
        try withLivefeed(workers: 2, arguments: ["--max-live-per-view", "channel=1", "--max-head-bytes", "1024"]) {
            server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")  // http 1
            let channel = try api.channelID(named: "general")  // http 2
            for _ in 0..<5 { #expect(try server.http.get("/api/metrics").status == 200) }  // http 3...7
            let keepAlive = try HTTPConnection(port: server.port)  // http 8: one connection, three requests
            for _ in 0..<3 { #expect(try keepAlive.get("/channels").status == 200) }
            keepAlive.close()
            let path = "/live/channels/\(channel)?after_id=\(first)"
            for _ in 0..<3 {
                let stream = try LiveStream.open(port: server.port, path: path)  // channel: opened 3 times
                try eventually(timeout: .seconds(10), "the previous stream's slot freed") {
                    try server.scrapeMetrics().value("livefeed_connections", ["view": "channel"]) == 1
                }
                expectRefusal(
                    try refusedUpgrade(port: server.port, path: path), status: 503, code: "view_cap", json: true)
                stream.close()
                try eventually(timeout: .seconds(10), "the stream's slot freed") {
                    try server.scrapeMetrics().value("livefeed_connections", ["view": "channel"]) == 0
                }
            }
            let tooLarge = try server.http.sendRaw(
                Array("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n".utf8))
            #expect(tooLarge.status == 431)
            let bad = try server.http.sendRaw(Array("NOT HTTP\r\n\r\n".utf8))
            #expect(bad.status == 400)

            let scrape = try server.waitForGaugesAtZero()
            #expect(scrape.count("livefeed_connections_accepted_total", ["view": "http"]) == 8)
            #expect(scrape.count("livefeed_connections_accepted_total", ["view": "channel"]) == 3)
            #expect(scrape.count("livefeed_live_connections_opened_total", ["view": "channel"]) == 3)
            #expect(scrape.count("livefeed_connections_refused_total", ["view": "channel", "reason": "view_cap"]) == 3)
            #expect(
                scrape.count("livefeed_connections_refused_total", ["view": "unknown", "reason": "head_too_large"]) == 1
            )
            #expect(
                scrape.count("livefeed_connections_refused_total", ["view": "unknown", "reason": "bad_request"]) == 1)
            #expect(scrape.sum("livefeed_connections_refused_total") == 5)
            #expect(scrape.sum("livefeed_connections_closed_total", matching: ["view": "http"]) == 8)
            #expect(scrape.sum("livefeed_connections_closed_total", matching: ["view": "channel"]) == 3)
            #expect(scrape.sum("livefeed_frames_dropped_total") == 0)
            #expect(scrape.sum("livefeed_worker_restarts_total") == 0)
            #expect(scrape.value("livefeed_workers_up") == 2)
            #expect(scrape.value("livefeed_workers_crash_looping") == 0)
            for name in ["livefeed_connections", "livefeed_connections_open", "livefeed_connections_accepted_total"] {
                #expect(scrape.types[name] != nil, "\(name) has a TYPE line")
            }
            #expect(scrape.types["livefeed_connections_refused_total"] == "counter")
            #expect(scrape.types["livefeed_connections"] == "gauge")

            // Every refusal was logged as one structured record with its reason and view.
            let refusals = server.logLines().filter { $0.string("event") == "connection_refused" }
            #expect(refusals.count == 5)
            #expect(refusals.filter { $0.string("reason") == "view_cap" && $0.string("view") == "channel" }.count == 3)
            #expect(
                refusals.allSatisfy { $0.string("client") != nil && $0.int("status") != nil && $0.int("conn") != nil })
        }
    }

    @Test func statusPageShowsWorkersCapsAndRecentRefusals() throws {
        try withLivefeed(workers: 2, arguments: ["--max-live-per-view", "channel=1", "--max-connections", "50"]) {
            server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let workers = try server.waitForWorkers(2)
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            defer { stream.close() }
            _ = try refusedUpgrade(port: server.port, path: "/live/channels/\(channel)")

            let page = try server.http.get("/status")
            #expect(page.status == 200 && page.hasContentType("text/html"))
            let html = page.text
            for pid in workers.values { #expect(html.contains("<td>\(pid)</td>"), "worker pid \(pid) listed") }
            #expect(html.contains("<td>view channel</td><td>1</td><td>1</td>"), "channel connections against its cap")
            #expect(html.contains("<td>all connections</td>"))
            #expect(html.contains("<td>50</td>"), "global cap shown")
            #expect(html.contains("503 view_cap"), "the recent refusal is listed")
            #expect(html.contains("data-healthy=\"true\""))
            let health = try server.http.get("/healthz").jsonObject()
            #expect(health.string("status") == "ok")
            #expect(health.int("generation") == 1)
        }
    }
}
