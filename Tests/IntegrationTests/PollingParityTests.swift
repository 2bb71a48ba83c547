import Foundation
import Testing

/// Polling is exact too: `/fragments/...` answers with the same messages, cursor and epoch as `/api/...` for the same
/// `after_id`, so a page can fall back from live to polling and back without losing or repeating anything.
struct PollingParityTests {
    @Test func messagesFragmentMatchesTheAPIPageForEveryCursor() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            // Interleaved channels, so the channel's ids have gaps that a cursor can fall into.
            var generalIDs: [Int] = []
            var randomIDs: [Int] = []
            for i in 1...30 {
                if i % 3 == 0 {
                    randomIDs.append(try api.post(channel: "random", user: "bob", text: "r\(i)"))
                } else {
                    generalIDs.append(try api.post(channel: "general", user: "alice", text: "g\(i)"))
                }
            }
            let channelID = try api.channelID(named: "general")
            // (A cursor beyond the newest id is 409 on both: CursorTruthTests.)
            let cursors = [0, generalIDs[0], generalIDs[7], randomIDs[3], generalIDs.last!, randomIDs.last!]
            for after in cursors {
                for limit in [nil, 5] {
                    let query = "after_id=\(after)" + (limit.map { "&limit=\($0)" } ?? "")
                    let page = try api.getObject("/api/channels/\(channelID)/messages?\(query)")
                    let pageIDs = (page.objects("messages") ?? []).compactMap { $0.int("id") }
                    let response = try server.http.get("/fragments/channels/\(channelID)/messages?\(query)")
                    #expect(response.status == 200, "\(query): \(response)")
                    #expect(response.hasContentType("text/html"), "\(query): \(response)")
                    let cursor = response.header("X-Livefeed-Cursor")
                    #expect(cursor != nil && cursor == page.int("cursor").map(String.init), "\(query): \(response)")
                    let epoch = response.header("X-Livefeed-Epoch")
                    #expect(epoch != nil && epoch == page.string("epoch"), "\(query): \(response)")

                    let elements = try HTMLFragment.topLevelElements(response.text)
                    let lists = elements.filter { $0.attribute("id") == "messages" }
                    let fragmentIDs = lists.flatMap(\.elements).compactMap { item -> Int? in
                        guard let id = item.attribute("id"), id.hasPrefix("msg-") else { return nil }
                        return Int(id.dropFirst(4))
                    }
                    #expect(fragmentIDs == pageIDs, "\(query): fragment ids vs API ids")
                    for list in lists {
                        #expect(list.attribute("hx-swap-oob") == "beforeend", "\(query): \(response.text.prefix(300))")
                        #expect(list.attribute("data-cursor") == cursor, "\(query): \(response.text.prefix(300))")
                    }
                    let count = elements.first { $0.attribute("id") == "channel-count-\(channelID)" }
                    #expect(count?.attribute("hx-swap-oob") == "true", "\(query): \(response.text.prefix(300))")
                    #expect(count?.textContent == "\(generalIDs.count)", "\(query): \(response.text.prefix(300))")
                }
            }
        }
    }

    @Test func snapshotFragmentsCarryOutOfBandElementsWithTheAPIValues() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "one")
            try api.post(channel: "general", user: "bob", text: "two")
            try api.post(channel: "random", user: "bob", text: "three")
            let metrics = try api.metrics()
            let channels = try #require(try api.getObject("/api/channels").objects("channels"))
            let users = try #require(try api.getObject("/api/users").objects("users"))

            let totals = try fragment(server, "/fragments/metrics", cursor: metrics)
            let div = try #require(totals.first { $0.attribute("id") == "totals" }, "no #totals")
            #expect(div.attribute("hx-swap-oob") == "true")
            #expect(div.attribute("data-cursor") == metrics.int("cursor").map(String.init))
            for (id, key) in [("total-messages", "messages"), ("total-channels", "channels"), ("total-users", "users")]
            {
                let value = div.allElements.first { $0.attribute("id") == id }?.textContent
                #expect(value == metrics.int(key).map(String.init), "#\(id) vs /api/metrics \(key)")
            }

            let channelCounts = try fragment(server, "/fragments/channels", cursor: metrics)
            for channel in channels {
                let id = try #require(channel.int("id"))
                let span = channelCounts.first { $0.attribute("id") == "channel-count-\(id)" }
                #expect(span?.attribute("hx-swap-oob") == "true", "channel-count-\(id)")
                #expect(span?.textContent == channel.int("message_count").map(String.init), "channel-count-\(id)")
            }

            let userCounts = try fragment(server, "/fragments/users", cursor: metrics)
            for user in users {
                let id = try #require(user.int("id"))
                let span = userCounts.first { $0.attribute("id") == "user-count-\(id)" }
                #expect(span?.attribute("hx-swap-oob") == "true", "user-count-\(id)")
                #expect(span?.textContent == user.int("message_count").map(String.init), "user-count-\(id)")
            }

            let bob = try #require(users.first { $0.string("name") == "bob" })
            let bobID = try #require(bob.int("id"))
            let profile = try fragment(server, "/fragments/users/\(bobID)", cursor: metrics)
            let span = profile.first { $0.attribute("id") == "user-count-\(bobID)" }
            #expect(span?.attribute("hx-swap-oob") == "true", "user-count-\(bobID)")
            #expect(span?.textContent == "2")

            #expect(try server.http.get("/fragments/users/999999").status == 404)
            #expect(try server.http.get("/fragments/channels/999999/messages").status == 404)
            #expect(try server.http.get("/fragments/channels/1/messages?after_id=-1").status == 400)
        }
    }
}

/// GETs a snapshot fragment: 200, HTML, cursor and epoch headers equal to `snapshot`'s (an /api answer), every
/// top-level element with an id and `hx-swap-oob`. Returns the top-level elements.
private func fragment(
    _ server: ServerProcess, _ path: String, cursor snapshot: [String: Any],
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> [HTMLElement] {
    let response = try server.http.get(path)
    #expect(response.status == 200, "\(path): \(response)", sourceLocation: sourceLocation)
    #expect(response.hasContentType("text/html"), "\(path): \(response)", sourceLocation: sourceLocation)
    #expect(
        response.header("X-Livefeed-Cursor") == snapshot.int("cursor").map(String.init), "\(path): \(response)",
        sourceLocation: sourceLocation)
    #expect(
        response.header("X-Livefeed-Epoch") == snapshot.string("epoch"), "\(path): \(response)",
        sourceLocation: sourceLocation)
    let elements = try HTMLFragment.topLevelElements(response.text)
    #expect(!elements.isEmpty, "\(path): empty fragment", sourceLocation: sourceLocation)
    for element in elements {
        #expect(
            element.attribute("id")?.isEmpty == false, "\(path): \(response.text.prefix(300))",
            sourceLocation: sourceLocation)
        #expect(
            element.attribute("hx-swap-oob") != nil, "\(path): \(response.text.prefix(300))",
            sourceLocation: sourceLocation)
    }
    return elements
}
