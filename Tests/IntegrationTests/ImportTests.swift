import Foundation
import Testing

/// `livefeed import FILE.jsonl`: batches, bad lines reported by number, good lines kept, and rows it writes stream
/// to live subscribers of a running server like any other writer's.
struct ImportTests {
    @Test func badLinesAreReportedByNumberAndGoodLinesAreStored() throws {
        let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-import-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = [
            #"{"channel":"imports","user":"ada","text":"first"}"#,
            "",
            #"{"channel":"imports","user":"ada"}"#,
            "not json at all",
            #"[{"channel":"imports","user":"ada","text":"an array"}]"#,
            #"{"channel":424242,"user":"ada","text":"unknown channel id"}"#,
            #"{"channel":"imports","user":"grace","text":"last","sent_at":"2026-01-02T03:04:05Z"}"#,
        ]
        let file = "\(directory)/messages.jsonl"
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file))
        let database = "\(directory)/import.db"

        let run = try Subprocess.run("\(try LivefeedBinaries.directory())/livefeed", ["import", "--db", database, file])

        #expect(run.status == .exited(1), "bad lines make the exit status 1: \(run.stderr)")
        for bad in [3, 4, 5, 6] { #expect(run.stderr.contains("line \(bad):"), "line \(bad) reported in: \(run.stderr)") }
        for good in [1, 2, 7] { #expect(!run.stderr.contains("line \(good):"), "line \(good) wrongly reported") }
        #expect(run.stderr.contains("7 lines read, 2 stored, 4 bad"), "\(run.stderr)")
        let sqlite = SQLiteWriter(databasePath: database)
        #expect(try sqlite.execute("SELECT text FROM messages ORDER BY id;").split(separator: "\n") == ["first", "last"])
        #expect(try sqlite.execute("SELECT sent_at FROM messages WHERE text = 'last';").hasPrefix("2026-01-02T03:04:05.000Z"))
        #expect(try sqlite.execute("SELECT messages FROM totals;").hasPrefix("2"))
    }

    @Test func importedRowsStreamToLiveSubscribers() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let first = try api.post(channel: "imports", text: "creates the channel")
            let channelID = try api.channelID(named: "imports")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)")
            defer { stream.close() }

            let count = 1200  // more than one import batch
            let text = (1...count).map { #"{"channel":"imports","user":"bulk","text":"row \#($0)"}"# }.joined(separator: "\n")
            let run = try Subprocess.run(
                "\(try LivefeedBinaries.directory())/livefeed", ["import", "--db", server.databasePath, "-"], stdin: text)
            #expect(run.status == .exited(0), "\(run.stderr)")

            let expected = Array((first + 1)...(first + count))
            let received = try stream.expectMessages(expected, timeout: .seconds(30))
            #expect(received.count == count)
            #expect(received.last?.object("data")?.string("text") == "row \(count)")
        }
    }
}
