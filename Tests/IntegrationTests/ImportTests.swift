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

        let livefeed = "\(try LivefeedBinaries.directory())/livefeed"
        let refused = try Subprocess.run(livefeed, ["import", "--db", database, file])
        #expect(refused.status == .exited(2), "no database and no --create: \(refused.stderr)")
        #expect(refused.stderr.hasPrefix("livefeed import: no database at \(database)"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: database))

        let run = try Subprocess.run(livefeed, ["import", "--db", database, "--create", file])

        #expect(run.status == .exited(1), "bad lines make the exit status 1: \(run.stderr)")
        let said = run.stderr.split(separator: "\n")
        #expect(said.allSatisfy { $0.hasPrefix("livefeed import: ") }, "\(run.stderr)")
        #expect(said.first?.hasSuffix("writing to \(database)") == true, "\(run.stderr)")
        #expect(said.last?.hasSuffix(" in \(database)") == true, "\(run.stderr)")
        for bad in [3, 4, 5, 6] { #expect(run.stderr.contains("line \(bad):"), "line \(bad) reported in: \(run.stderr)") }
        for good in [1, 2, 7] { #expect(!run.stderr.contains("line \(good):"), "line \(good) wrongly reported") }
        #expect(run.stderr.contains("7 lines read (1 blank), 2 stored, 0 already stored, 4 bad"), "\(run.stderr)")
        let sqlite = SQLiteWriter(databasePath: database)
        #expect(try sqlite.execute("SELECT text FROM messages ORDER BY id;").split(separator: "\n") == ["first", "last"])
        #expect(try sqlite.execute("SELECT sent_at FROM messages WHERE text = 'last';").hasPrefix("2026-01-02T03:04:05.000Z"))
        #expect(try sqlite.execute("SELECT messages FROM totals;").hasPrefix("2"))
    }

    @Test func linesWithKeysMakeAReRunIdempotent() throws {
        let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-import-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = [
            #"{"channel":"imports","user":"ada","text":"keyed one","key":"line-1"}"#,
            #"{"channel":"imports","user":"ada","text":"keyed two","key":"line-2"}"#,
            #"{"channel":"imports","user":"ada","text":"no key"}"#,
        ]
        let file = "\(directory)/messages.jsonl"
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: file))
        let database = "\(directory)/import.db"
        let livefeed = "\(try LivefeedBinaries.directory())/livefeed"
        let first = try Subprocess.run(livefeed, ["import", "--create", "--db", database, file])
        #expect(first.status == .exited(0), "\(first.stderr)")
        #expect(first.stderr.contains("3 stored, 0 already stored, 0 bad"), "\(first.stderr)")
        let again = try Subprocess.run(livefeed, ["import", "--db", database, file])
        #expect(again.status == .exited(0), "\(again.stderr)")
        #expect(again.stderr.contains("1 stored, 2 already stored, 0 bad"), "\(again.stderr)")
        let sqlite = SQLiteWriter(databasePath: database)
        #expect(try sqlite.execute("SELECT count(*) FROM messages;") == "4\n", "keyed lines once, the unkeyed twice")

        try Data(#"{"channel":"imports","user":"ada","text":"other text","key":"line-1"}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        let reused = try Subprocess.run(livefeed, ["import", "--db", database, file])
        #expect(reused.status == .exited(1))
        #expect(reused.stderr.contains("line 1: key_reused"), "\(reused.stderr)")
    }

    @Test func helpAndBadArgumentsAnswerInOneLine() throws {
        let livefeed = "\(try LivefeedBinaries.directory())/livefeed"
        let help = try Subprocess.run(livefeed, ["import", "--help"])
        #expect(help.status == .exited(0))
        #expect(help.stdout.hasPrefix("usage: livefeed import"), "\(help.stdout)")
        for arguments in [["import"], ["import", "--bogus", "x"], ["import", "a", "b"]] {
            let run = try Subprocess.run(livefeed, arguments)
            #expect(run.status == .exited(2), "\(arguments): \(run.stderr)")
            #expect(run.stderr.hasPrefix("livefeed import: "), "\(arguments): \(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(arguments): \(run.stderr)")
        }
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
