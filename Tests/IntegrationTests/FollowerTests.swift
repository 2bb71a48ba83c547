import Foundation
import Glibc
import Testing

/// Scale-out, one host's part (docs/scale-out.md): a follower serves a read-only replica of the primary's
/// database. Here the test is the replication: `sqlite3 .restore` copies the primary's file into the follower's
/// through SQLite's backup API, as Litestream's restore applies pages. The follower sends writers to the primary,
/// holds a client whose cursor it has not reached yet (never "ahead", never a replay from 0) and serves the
/// primary's ids and epoch, and says how far behind it is.
struct FollowerTests {
    @Test func aFollowerServesTheReplicaHoldsCursorsAheadOfItAndSendsWritersToThePrimary() throws {
        try withLivefeed(workers: 1, arguments: ["--role", "primary"]) { primary in
            try Self.follow(primary)
        }
    }

    private static func follow(_ primary: ServerProcess) throws {
        let api = LivefeedAPI(primary)
        let first = try (1...3).map { try api.post(text: "before the follower \($0)") }
        let channel = try api.channelID(named: "general")
        let epoch = try #require(try api.metrics().string("epoch"))
        // The primary beats once a second: the replica carries the beat the follower measures its lag by.
        try eventually(timeout: .seconds(10), "the primary's heartbeat") {
            try SQLiteWriter(databasePath: primary.databasePath).execute("SELECT value FROM meta WHERE key = 'heartbeat';")
                .contains(where: \.isNumber)
        }
        let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-follower-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let replica = SQLiteWriter(databasePath: "\(directory)/replica.db")
        func replicate() throws { _ = try replica.execute(".restore '\(primary.databasePath)'") }
        try replicate()

        try withLivefeed(
            workers: 1,
            arguments: ["--role", "follower", "--db", replica.databasePath, "--primary-url", "http://127.0.0.1:\(primary.port)"]
        ) { follower in
            // The primary's epoch and ids.
            let followerAPI = LivefeedAPI(follower)
            #expect(try followerAPI.metrics().string("epoch") == epoch)
            // Only Litestream writes a follower's replica: no checkpointer of its own.
            #expect(!follower.logLines().contains { $0.string("event") == "checkpointer_started" })

            // A write reaches the follower: 307 to the primary's same path, which stores it.
            let body = #"{"channel":"general","user":"alice","text":"sent to the follower"}"#
            let redirected = try follower.http.post("/api/messages", body: body)
            #expect(redirected.status == 307, "\(redirected)")
            #expect(redirected.header("Location") == "http://127.0.0.1:\(primary.port)/api/messages")
            #expect(redirected.text.contains("read_only_follower"))
            let onPrimary = try primary.http.post("/api/messages", body: body)
            #expect(onPrimary.status == 201, "\(onPrimary)")
            let fourth = try api.post(text: "the follower has not seen this yet")

            // A client whose cursor the replica has not reached (it read the primary) is held, not told "ahead";
            // one at the replica's newest waits for the same rows; polling answers an empty page, not 409.
            let ahead = try LiveStream.open(
                port: follower.port, path: "/live/channels/\(channel)?after_id=\(fourth)", expectedEpoch: epoch)
            defer { ahead.close() }
            let caughtUp = try LiveStream.open(
                port: follower.port, path: "/live/channels/\(channel)?after_id=\(first.last!)", expectedEpoch: epoch)
            defer { caughtUp.close() }
            // A channel the replica does not have (yet): retry, not "no such channel".
            if case .refused(let refused) = try WebSocketClient.handshake(port: follower.port, path: "/live/channels/999999") {
                #expect(refused.status == 503 && refused.text.contains("replica_behind") && refused.header("Retry-After") == "1",
                    "\(refused)")
            } else {
                Issue.record("a follower upgraded a live connection to a channel its replica lacks")
            }
            let page = try follower.http.get("/api/channels/\(channel)/messages?after_id=\(fourth)")
            #expect(page.status == 200 && page.text.contains(#""messages":[]"#), "\(page)")

            let later = try (1...2).map { try api.post(text: "after the follower \($0)") }
            try replicate()
            // Exactly what each had not seen, in order: nothing twice, nothing from 0.
            try ahead.expectMessages(later)
            let all = try primaryIDs(api, channel, after: first.last!)
            try caughtUp.expectMessages(all)
            #expect(!ahead.envelopes.contains { $0.string("type") == "status" }, "the held client got a status")

            // How far behind: /metrics, /status and STATUS= all say. The replica stops here; its lag grows.
            let metrics = try follower.http.get("/metrics").text
            #expect(metrics.contains(#"livefeed_role{role="follower"} 1"#), "\(metrics.prefix(400))")
            try eventually(timeout: .seconds(15), "the lag to pass 1.5 s") {
                let text = try follower.http.get("/metrics").text
                let line = text.split(separator: "\n").first { $0.hasPrefix("livefeed_replica_lag_milliseconds ") }
                return line.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 >= 1500 } ?? false
            }
            #expect(try follower.http.get("/status").text.contains("Role: follower, "))
            try replicate()
            try eventually(timeout: .seconds(15), "the lag to fall under 1.5 s once replicated") {
                let text = try follower.http.get("/metrics").text
                let line = text.split(separator: "\n").first { $0.hasPrefix("livefeed_replica_lag_milliseconds ") }
                return line.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 < 1500 } ?? false
            }

            // The replica turns into something unreadable (here: another database's contents): reads answer 503
            // replica_unavailable with Retry-After, not 500: another host, or this one later, can serve them.
            let other = SQLiteWriter(databasePath: "\(directory)/other.db")
            _ = try other.execute("CREATE TABLE unrelated(x);")
            _ = try replica.execute(".restore '\(other.databasePath)'")
            let broken = try follower.http.get("/api/channels")
            #expect(broken.status == 503 && broken.text.contains("replica_unavailable") && broken.header("Retry-After") == "1",
                "\(broken)")
        }
    }

    /// The primary's message ids in `channel` after `after`, ascending.
    private static func primaryIDs(_ api: LivefeedAPI, _ channel: Int, after: Int) throws -> [Int] {
        let page = try api.getObject("/api/channels/\(channel)/messages?after_id=\(after)")
        return (page["messages"] as? [[String: Any]] ?? []).compactMap { $0.int("id") }
    }

    @Test func aFollowerWithoutAReplicaSaysWhyAndADemoFollowerIsRefused() throws {
        let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-follower-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let livefeed = try LivefeedBinaries.directory() + "/livefeed"
        let demo = try Subprocess.run(livefeed, ["--role", "follower", "--demo", "--db", "\(directory)/r.db"])
        #expect(demo.status == .exited(2) && demo.stderr.contains("read-only replica"), "\(demo.stderr)")
        let missing = try Subprocess.run(
            livefeed, ["--role", "follower", "--db", "\(directory)/none.db", "--listen", "127.0.0.1:0", "--log-target", "stderr"])
        #expect(missing.status == .exited(1) && missing.stderr.contains("no replica at"), "\(missing.stderr)")
    }
}
