import Foundation
import Testing

/// A cursor is never silently wrong: a cursor beyond the newest id is refused before any frame, and a database
/// that goes back in time (a restored backup keeps its epoch) gets a new epoch that every live client is told.
struct CursorTruthTests {
    @Test func aCursorFromTheFutureIsRefusedBeforeAnyFrame() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let newest = try api.post(channel: "general", text: "the newest message")
            let channel = try api.channelID(named: "general")
            let ahead = newest + 1000

            for path in ["/live/channels/\(channel)?after_id=\(ahead)", "/live/metrics?after_id=\(ahead)"] {
                let stream = try LiveStream.open(port: server.port, path: path)
                let status = try stream.nextEnvelope()
                #expect(status.string("type") == "status", "\(path): the first frame is the status: \(status.jsonText)")
                #expect(status.object("data")?.string("state") == "cursor_ahead", "\(status.jsonText)")
                #expect(status.string("epoch")?.isEmpty == false && status.string("sent_at") != nil, "\(status.jsonText)")
                #expect(status.int("cursor") != nil, "status frames carry a cursor: \(status.jsonText)")
                #expect(closeCode(try stream.awaitEnding()) == 4002)
                #expect(stream.messageIDs.isEmpty)
            }
            // The cursor a client legitimately holds is not ahead, even after its message was deleted.
            _ = try SQLiteWriter(databasePath: server.databasePath).execute("DELETE FROM messages WHERE id = \(newest);")
            let resumed = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(newest)")
            let next = try api.post(channel: "general", text: "after the delete")
            #expect(LiveStream.messageID(try resumed.nextMessage()) == next)
            resumed.close()

            for path in [
                "/api/channels/\(channel)/messages?after_id=\(ahead)",
                "/fragments/channels/\(channel)/messages?after_id=\(ahead)",
            ] {
                let response = try server.http.get(path)
                #expect(response.status == 409, "\(path): \(response)")
                if path.hasPrefix("/api") {
                    #expect(try response.jsonObject().object("error")?.string("code") == "cursor_ahead", "\(response)")
                }
            }
            #expect(try server.http.get("/api/channels/\(channel)/messages?after_id=\(next)").status == 200)
        }
    }

    @Test func restoringAnOlderCopyGivesANewEpochAndEveryClientIsTold() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let kept = try api.postBatch(count: 5, prefix: "kept")
            let channel = try api.channelID(named: "general")
            let epoch = try #require(try api.metrics().string("epoch"))
            let backup = "\(server.directory)/backup.db"
            let sqlite = SQLiteWriter(databasePath: server.databasePath)
            _ = try sqlite.execute(".backup '\(backup)'")
            let lost = try api.postBatch(count: 5, prefix: "lost after the backup")

            // Clients on every worker, at the newest cursor; some on the channel, some on the totals.
            var streams: [LiveStream] = []
            for i in 0..<8 {
                let path = i % 2 == 0 ? "/live/channels/\(channel)?after_id=\(lost.last!)" : "/live/metrics"
                streams.append(try LiveStream.open(port: server.port, path: path))
            }
            defer { streams.forEach { $0.close() } }
            for s in streams where s.path.hasPrefix("/live/metrics") { _ = try s.nextEnvelope() }

            // Through SQLite's backup API, so the running workers see the change like any other write.
            _ = try sqlite.execute(".restore '\(backup)'")

            for s in streams {
                let status = try s.next("epoch_changed") { $0.string("type") == "status" }
                #expect(status.object("data")?.string("state") == "epoch_changed", "\(s.path): \(status.jsonText)")
                #expect(closeCode(try s.awaitEnding()) == 4001, "\(s.path)")
            }
            let renewed = try #require(try api.metrics().string("epoch"))
            #expect(renewed != epoch, "the restored database has a new epoch")
            let warnings = server.logLines().filter { $0.string("event") == "database_went_backwards" }
            #expect(warnings.count == 1, "exactly one worker renews the epoch: \(warnings.map(\.jsonText))")
            #expect(warnings.first?.string("level") == "warning")
            #expect(warnings.first?.int("served_id") == lost.last, "\(warnings.map(\.jsonText))")
            #expect(warnings.first?.int("newest_id") == kept.last, "\(warnings.map(\.jsonText))")

            // A client that resumes with the old epoch is told to reload; one that starts over sees the new ids.
            let stale = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channel)?after_id=\(kept.last!)&epoch=\(epoch)")
            #expect(closeCode(try stale.awaitEnding()) == 4001)
            let fresh = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channel)?after_id=\(kept.last!)&epoch=\(renewed)")
            let next = try api.post(channel: "general", text: "written after the restore")
            #expect(LiveStream.messageID(try fresh.nextMessage()) == next)
            fresh.close()
        }
    }
}
