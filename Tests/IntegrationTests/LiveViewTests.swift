import Foundation
import Testing

/// Every live view of the contract: what each sends on connect, what it sends after a write, and which requests are
/// refused before the upgrade. Every stream checks, on every envelope, that cursors never go backwards and that the
/// epoch is the one `/api/metrics` reports.
struct LiveViewTests {
    /// RFC 6455 §5.5.1: after its Close frame an endpoint sends no more data frames. A client whose Close (or
    /// whose bad frame, answered 1002) came in the same write as its upgrade request once got its view's first
    /// snapshots after the server's Close: they had waited behind the 101 and went out when it was written.
    @Test(arguments: [
        ("/live/metrics", WebSocketClient.maskedFrame(.close, payload: [0x03, 0xE8])),
        ("/live/channels", WebSocketClient.maskedFrame(.close, payload: [0x03, 0xE8])),
        ("/live/users", [0x81, 0x02, 0x68, 0x69]),  // unmasked: a protocol error, answered with Close 1002
    ])
    func nothingFollowsTheServersCloseWhenTheClientsFrameCameWithItsUpgrade(path: String, early: [UInt8]) throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "one")
            try api.post(channel: "random", user: "bob", text: "two")
            guard case .upgraded(let ws) = try WebSocketClient.handshake(
                port: server.port, path: path, sendingWithHead: early)
            else { Issue.record("upgrade of \(path) refused"); return }
            defer { ws.socket.close() }
            var frames: [WebSocketFrame] = []
            let deadline = ContinuousClock.now + .seconds(10)
            while true {
                do { frames.append(try ws.readFrame(deadline: deadline)) } catch { break }  // the server's EOF
            }
            let seen = frames.map { $0.opcode == .close ? "close \($0.closeCode ?? 0)" : $0.text }
            let close = try #require(frames.firstIndex { $0.opcode == .close }, "\(path): no Close in \(seen)")
            #expect(close == frames.count - 1, "\(path): frames after the server's Close: \(seen)")
        }
    }

    @Test func metricsViewSendsTheTotalsOfTheAPIOnConnectAndAgainAfterAPost() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "one")
            try api.post(channel: "random", user: "bob", text: "two")
            let before = try api.metrics()
            let epoch = try #require(before.string("epoch"))
            let stream = try LiveStream.open(port: server.port, path: "/live/metrics", expectedEpoch: epoch)
            defer { stream.close() }

            let first = try stream.nextEnvelope()
            #expect(first.string("type") == "metrics", "\(first.jsonText)")
            let data = try #require(first.object("data"), "\(first.jsonText)")
            #expect(data.int("messages") == before.int("messages"), "\(first.jsonText) vs \(before.jsonText)")
            #expect(data.int("channels") == before.int("channels"), "\(first.jsonText) vs \(before.jsonText)")
            #expect(data.int("users") == before.int("users"), "\(first.jsonText) vs \(before.jsonText)")
            #expect(first.int("cursor") == before.int("cursor"), "\(first.jsonText) vs \(before.jsonText)")

            let id = try api.post(channel: "ops", user: "carol", text: "three")
            let after = try api.metrics()
            let update = try stream.next("metrics matching \(after.jsonText)") {
                $0.string("type") == "metrics" && $0.object("data")?.int("messages") == after.int("messages")
            }
            #expect(update.object("data")?.int("channels") == after.int("channels"), "\(update.jsonText)")
            #expect(update.object("data")?.int("users") == after.int("users"), "\(update.jsonText)")
            #expect(update.int("cursor") == id, "\(update.jsonText)")
            #expect(stream.envelopes.allSatisfy { $0.string("type") == "metrics" }, "\(stream.envelopes)")
        }
    }

    @Test func channelsViewSendsEveryChannelCountOnConnectThenTheUpdatedCountAfterAPost() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "one")
            try api.post(channel: "random", user: "alice", text: "two")
            try api.post(channel: "random", user: "bob", text: "three")
            try api.post(channel: "ops", user: "bob", text: "four")
            let listed = try api.getObject("/api/channels")
            let epoch = try #require(listed.string("epoch"))
            let channels = try #require(listed.objects("channels"))
            #expect(channels.count == 3, "\(listed.jsonText)")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels", expectedEpoch: epoch)
            defer { stream.close() }

            var counts: [Int: [String: Any]] = [:]
            while counts.count < channels.count {
                let envelope = try stream.next("channel_count for each of \(channels.count) channels") {
                    $0.string("type") == "channel_count"
                }
                if let id = envelope.object("data")?.int("id") { counts[id] = envelope }
            }
            for channel in channels {
                let id = try #require(channel.int("id"))
                let envelope = try #require(counts[id], "no channel_count for \(channel.jsonText)")
                let data = try #require(envelope.object("data"))
                #expect(data.int("message_count") == channel.int("message_count"), "\(envelope.jsonText)")
                #expect(data.string("name") == channel.string("name"), "\(envelope.jsonText)")
                #expect(envelope.int("cursor") == listed.int("cursor"), "\(envelope.jsonText)")
            }

            let randomID = try api.channelID(named: "random")
            let id = try api.post(channel: "random", user: "carol", text: "five")
            let update = try stream.next("channel_count for random with 3 messages") {
                $0.string("type") == "channel_count" && $0.object("data")?.int("id") == randomID
                    && $0.object("data")?.int("message_count") == 3
            }
            #expect(update.int("cursor") == id, "\(update.jsonText)")
            #expect(update.object("data")?.int("last_message_id") == id, "\(update.jsonText)")
            #expect(stream.envelopes.allSatisfy { $0.string("type") == "channel_count" }, "\(stream.envelopes)")
        }
    }

    @Test func usersViewSendsEveryUserCountOnConnectThenTheUpdatedCountAfterAPost() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "one")
            try api.post(channel: "general", user: "bob", text: "two")
            try api.post(channel: "random", user: "bob", text: "three")
            let listed = try api.getObject("/api/users")
            let epoch = try #require(listed.string("epoch"))
            let users = try #require(listed.objects("users"))
            #expect(users.count == 2, "\(listed.jsonText)")
            let stream = try LiveStream.open(port: server.port, path: "/live/users", expectedEpoch: epoch)
            defer { stream.close() }

            var counts: [Int: [String: Any]] = [:]
            while counts.count < users.count {
                let envelope = try stream.next("user_count for each of \(users.count) users") {
                    $0.string("type") == "user_count"
                }
                if let id = envelope.object("data")?.int("id") { counts[id] = envelope }
            }
            for user in users {
                let id = try #require(user.int("id"))
                let envelope = try #require(counts[id], "no user_count for \(user.jsonText)")
                #expect(
                    envelope.object("data")?.int("message_count") == user.int("message_count"), "\(envelope.jsonText)")
                #expect(envelope.int("cursor") == listed.int("cursor"), "\(envelope.jsonText)")
            }

            let aliceID = try api.userID(named: "alice")
            let id = try api.post(channel: "random", user: "alice", text: "four")
            let update = try stream.next("user_count for alice with 2 messages") {
                $0.string("type") == "user_count" && $0.object("data")?.int("id") == aliceID
                    && $0.object("data")?.int("message_count") == 2
            }
            #expect(update.int("cursor") == id, "\(update.jsonText)")
            #expect(stream.envelopes.allSatisfy { $0.string("type") == "user_count" }, "\(stream.envelopes)")
        }
    }

    @Test func userViewSendsTheProfileThenItsNewMessageCountAfterThatUserPosts() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "one")
            try api.post(channel: "general", user: "bob", text: "two")
            let bobID = try api.userID(named: "bob")
            let profile = try api.getObject("/api/users/\(bobID)")
            let epoch = try #require(profile.string("epoch"))
            let stream = try LiveStream.open(port: server.port, path: "/live/users/\(bobID)", expectedEpoch: epoch)
            defer { stream.close() }

            let first = try stream.nextEnvelope()
            #expect(first.string("type") == "user_profile", "\(first.jsonText)")
            #expect(first.object("data")?.int("id") == bobID, "\(first.jsonText)")
            #expect(first.object("data")?.string("name") == "bob", "\(first.jsonText)")
            #expect(first.object("data")?.int("message_count") == 1, "\(first.jsonText)")
            #expect(first.int("cursor") == profile.int("cursor"), "\(first.jsonText) vs \(profile.jsonText)")

            // Another user's message does not change bob's profile; bob's own does.
            try api.post(channel: "general", user: "alice", text: "three")
            let id = try api.post(channel: "random", user: "bob", text: "four")
            let update = try stream.next("user_profile for bob with 2 messages") {
                $0.string("type") == "user_profile" && $0.object("data")?.int("message_count") == 2
            }
            #expect(update.object("data")?.int("id") == bobID, "\(update.jsonText)")
            #expect(update.object("data")?.int("last_message_id") == id, "\(update.jsonText)")
            #expect(update.int("cursor") == id, "\(update.jsonText)")
            #expect(
                stream.envelopes.allSatisfy {
                    $0.string("type") == "user_profile" && $0.object("data")?.int("id") == bobID
                },
                "\(stream.envelopes)")
        }
    }

    @Test func aBusyChannelSendsItsCountAtMostFourTimesASecondAndAlwaysTheLastOne() throws {
        try withLivefeed(workers: 1) { server in
            let api = LivefeedAPI(server)
            try api.post(text: "first")
            let channelID = try api.channelID(named: "general")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)")
            defer { stream.close() }
            _ = try stream.next("the count on connect") { $0.string("type") == "channel_count" }

            let started = ContinuousClock.now
            var ids: [Int] = []
            for i in 0..<40 { ids.append(try api.post(text: "burst \(i)")) }
            let elapsed = ContinuousClock.now - started
            try stream.expectMessages(ids)
            let last = try stream.next("the count after the burst: 41") {
                $0.string("type") == "channel_count" && $0.object("data")?.int("message_count") == 41
            }
            #expect(last.int("cursor").map { $0 >= ids[ids.count - 1] } == true, "\(last.jsonText)")
            // One at once, then at most one per 250 ms while the burst lasts, then the trailing one.
            let counts = stream.envelopes(ofType: "channel_count").count - 1
            let allowed = Int(elapsed / .milliseconds(250)) + 2
            #expect(counts <= allowed, "\(counts) counts for 40 messages in \(elapsed) (at most \(allowed))")
        }
    }

    @Test func channelViewSendsMessagesAndACountOfThatChannelOnly() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let backlog = try api.postBatch(count: 3, prefix: "backlog")
            try api.post(channel: "random", user: "bob", text: "elsewhere")
            let channelID = try api.channelID(named: "general")
            let epoch = try #require(try api.metrics().string("epoch"))
            let stream = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(backlog[0])", expectedEpoch: epoch)
            defer { stream.close() }

            try stream.expectMessages(Array(backlog[1...]))
            let count = try stream.next("channel_count for general with 3 messages") {
                $0.string("type") == "channel_count" && $0.object("data")?.int("message_count") == 3
            }
            #expect(count.object("data")?.int("id") == channelID, "\(count.jsonText)")

            try api.post(channel: "random", user: "bob", text: "not for this view")
            let live = try api.post(text: "live")
            let message = try #require(try stream.expectMessages([live]).first)
            #expect(message.object("data")?.string("text") == "live")
            let updated = try stream.next("channel_count for general with 4 messages") {
                $0.string("type") == "channel_count" && $0.object("data")?.int("message_count") == 4
            }
            #expect(updated.int("cursor").map { $0 >= live } == true, "\(updated.jsonText)")

            let counts = stream.envelopes(ofType: "channel_count")
            #expect(counts.allSatisfy { $0.object("data")?.int("id") == channelID }, "\(counts)")
            let types = Set(stream.envelopes.compactMap { $0.string("type") })
            #expect(types == ["message", "channel_count"], "\(types)")
        }
    }

    @Test func badLiveRequestsAreRefusedBeforeTheUpgrade() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(text: "so that a channel and a user exist")
            let channelID = try api.channelID(named: "general")
            let userID = try api.userID(named: "alice")
            let refusals: [(path: String, status: Int)] = [
                ("/live/bogus", 404),
                ("/live/channels/abc", 404),
                ("/live/channels/0", 404),
                ("/live/channels/999999", 404),
                ("/live/users/0", 404),
                ("/live/users/999999", 404),
                ("/live/channels/\(channelID)?format=xml", 400),
                ("/live/users/\(userID)?format=xml", 400),
                ("/live/metrics?format=xml", 400),
                ("/live/channels/\(channelID)?after_id=-1", 400),
                ("/live/channels/\(channelID)?after_id=abc", 400),
            ]
            for (path, status) in refusals {
                switch try WebSocketClient.handshake(port: server.port, path: path) {
                case .upgraded(let client):
                    client.close()
                    Issue.record("\(path) was upgraded; expected \(status) before the upgrade")
                case .refused(let response):
                    #expect(response.status == status, "\(path): \(response)")
                    #expect(response.header("Upgrade") == nil, "\(path): \(response)")
                }
            }
        }
    }
}
