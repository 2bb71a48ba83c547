import Foundation
import Testing

/// `/live/dashboard`: the whole dashboard (totals, per-minute chart, rankings, latest messages) pushed as one
/// `dashboard` envelope, or as the page's out-of-band fragments, on connect and after every write.
struct LiveDashboardTests {
    @Test func dashboardViewSendsTheTotalsRankingsAndLatestMessagesOnConnectAndAfterAPost() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "one")
            try api.post(channel: "random", user: "bob", text: "two")
            let newest = try api.post(channel: "random", user: "bob", text: "three")
            let before = try api.metrics()
            let epoch = try #require(before.string("epoch"))
            let stream = try LiveStream.open(port: server.port, path: "/live/dashboard", expectedEpoch: epoch)
            defer { stream.close() }

            let first = try stream.nextEnvelope()
            #expect(first.string("type") == "dashboard", "\(first.jsonText)")
            #expect(first.int("cursor") == newest, "\(first.jsonText)")
            let data = try #require(first.object("data"), "\(first.jsonText)")
            #expect(data.int("messages") == before.int("messages"), "\(first.jsonText)")
            #expect(data.int("channels") == 2 && data.int("users") == 2, "\(first.jsonText)")
            #expect((data["per_minute"] as? [Any])?.count == 30, "\(first.jsonText)")
            let top = try #require(data.objects("top_channels"), "\(first.jsonText)")
            #expect(top.first?.string("name") == "random" && top.first?.int("message_count") == 2, "\(first.jsonText)")
            let recent = try #require(data.objects("recent"), "\(first.jsonText)")
            #expect(recent.compactMap { $0.int("id") }.prefix(3) == [newest, newest - 1, newest - 2], "\(first.jsonText)")

            let id = try api.post(channel: "ops", user: "carol", text: "four")
            let update = try stream.next("a dashboard with message \(id)") {
                $0.string("type") == "dashboard" && $0.int("cursor") == id
            }
            let updated = try #require(update.object("data"), "\(update.jsonText)")
            #expect(updated.int("messages") == (before.int("messages") ?? 0) + 1, "\(update.jsonText)")
            #expect(updated.int("channels") == 3 && updated.int("users") == 3, "\(update.jsonText)")
            #expect(updated.objects("recent")?.first?.string("text") == "four", "\(update.jsonText)")
            #expect(stream.envelopes.allSatisfy { $0.string("type") == "dashboard" }, "\(stream.envelopes)")
        }
    }

    @Test func htmlFramesCarryEveryPartOfThePageOutOfBandLikeItsPollingFragment() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "one")
            let stream = try HTMLLiveStream.open(port: server.port, path: "/live/dashboard?format=html")
            defer { stream.close() }
            let parts = ["totals", "activity", "top-channels", "top-users", "recent"]
            // One frame holds every part (the stream splits it into its elements, checking each carries an id,
            // hx-swap-oob and a cursor that never goes back).
            let first = try stream.next("the first dashboard frame") { $0.id == "totals" }
            let elements = stream.frames.filter { $0.html == first.html }
            #expect(elements.map(\.id) == parts, "\(first.html)")
            let id = try api.post(channel: "general", user: "dave", text: "fresh words")
            let recent = try stream.next("#recent with message \(id)") {
                $0.id == "recent" && $0.element.attribute("data-cursor") == "\(id)"
            }
            #expect(recent.element.textContent.contains("fresh words"), "\(recent.html)")

            // Polling falls back to the same parts.
            let polled = try HTTPClient(port: server.port).get("/fragments/dashboard")
            #expect(polled.status == 200)
            for part in parts { #expect(polled.text.contains("id=\"\(part)\""), "\(part) in \(polled.text)") }
            #expect(polled.header("X-Livefeed-Cursor") == "\(id)", "\(polled.headers)")
        }
    }

    @Test func theDashboardPageOpensTheDashboardViewAndPollsItsFragment() throws {
        try withLivefeed { server in
            let page = try HTTPClient(port: server.port).get("/")
            #expect(page.status == 200)
            #expect(page.text.contains("ws-connect=\"/live/dashboard?"), "\(page.text)")
            #expect(page.text.contains("data-poll=\"/fragments/dashboard\""), "\(page.text)")
            #expect(!page.text.contains("data-refresh-after"), "the dashboard no longer re-fetches on every change")
        }
    }
}
