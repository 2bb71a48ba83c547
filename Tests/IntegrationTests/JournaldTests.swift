import Foundation
import Glibc
import Testing

/// Records written to a real journald (a standalone one in a private mount namespace, see `StandaloneJournald`)
/// and read back with journalctl the way an operator would. Needs root; skipped with the reason elsewhere, and
/// run (failing loudly if something is missing) when CI=true.
struct JournaldTests {
    static let requirement: Comment = "needs root, unshare, nsenter and systemd-journald; runs anyway when CI=true"

    @Test(.enabled(if: SystemdTools.canTryJournald, requirement))
    func journalctlFindsTheRefusalsAndDropsThisTestCausedWithTheirFields() throws {
        let journal = try StandaloneJournald.start()
        defer { journal.stop() }
        try withLivefeed(
            workers: 1,
            arguments: [
                "--log-target", "journal", "--max-live-per-view", "channel=1", "--max-queue-bytes", "65536",
                "--max-queue-frames", "64",
            ],
            launch: Self.inside(journal)
        ) { server in
            let supervisor = "_PID=\(server.pid)"
            let api = LivefeedAPI(server)
            let start = try api.post(channel: "bulk", user: "alice", text: "start")
            let channel = try api.channelID(named: "bulk")
            let path = "/live/channels/\(channel)?after_id=\(start)"

            // A subscriber that never reads holds the channel's only slot: the next one is refused for the cap...
            let slow = try WebSocketClient.connect(port: server.port, path: path, receiveBufferSize: 4096)
            defer { slow.socket.close() }
            let refusedClient = try WebSocketClient.handshake(port: server.port, path: path)
            guard case .refused(let response) = refusedClient else { throw SocketError.protocolViolation("upgraded") }
            #expect(response.status == 503)

            // ...and a burst bigger than the kernel buffers and its queue bound makes it a slow consumer.
            let padding = String(repeating: "d", count: SlowConsumerTests.textBytes)
            var posted = 0
            while posted < SlowConsumerTests.messageCount {
                posted += try api.post(
                    (0..<50).map { ["channel": "bulk", "user": "alice", "text": "drop \(posted + $0) \(padding)"] }
                ).count
            }

            let refusals = try journal.waitForEntries(
                [supervisor, "VIEW=channel", "REASON=view_cap"], "the view_cap refusal")
            #expect(refusals.count == 1, "\(refusals.map(\.jsonText))")
            let refusal = refusals[0]
            #expect(refusal.string("EVENT") == "connection_refused")
            #expect(refusal.string("MESSAGE_ID") == "60543130fe5a455abf3fac92344d222e")
            #expect(refusal.string("PRIORITY") == "4", "a 503 is a warning")
            #expect(refusal.string("SYSLOG_IDENTIFIER") == "livefeed")
            #expect(refusal.int("STATUS") == 503)
            #expect(refusal.string("CLIENT")?.hasPrefix("127.0.0.1:") == true)
            #expect(refusal.int("CONN_ID") != nil)
            #expect(refusal.string("MESSAGE")?.hasPrefix("connection_refused ") == true, "\(refusal.jsonText)")

            let drops = try journal.waitForEntries(
                [supervisor, "VIEW=channel", "REASON=slow_consumer"], "the slow consumer's close",
                timeout: .seconds(30))
            #expect(drops.count == 1, "\(drops.map(\.jsonText))")
            let drop = drops[0]
            let worker = try #require(
                try journal.entries([supervisor, "EVENT=worker_ready"]).first?.int("WORKER_PID"),
                "the worker's pid, from its worker_ready record")
            #expect(drop.string("EVENT") == "connection_closed")
            #expect(drop.string("MESSAGE_ID") == "da3c592729c4427c9dc71d9f137969c2")
            #expect(drop.string("CLIENT") == "127.0.0.1:\(slow.localPort)")
            #expect((drop.int("DROPPED_FRAMES") ?? 0) > 0, "\(drop.jsonText)")
            #expect(drop.int("DELIVERED_FRAMES") != nil, "\(drop.jsonText)")
            #expect(drop.int("CLOSE_CODE") == 1013, "\(drop.jsonText)")
            #expect(drop.int("CURSOR") != nil && drop.int("DURATION_MS") != nil, "\(drop.jsonText)")
            #expect(drop.int("WORKER_PID") == worker, "\(drop.jsonText)")

            // A connection's life, by its id: opened, closed.
            let conn = try #require(drop.int("CONN_ID"))
            let life = try journal.entries([supervisor, "CONN_ID=\(conn)"])
            #expect(life.map { $0.string("EVENT") ?? "" } == ["connection_opened", "connection_closed"])

            // One journal for the whole service: workers' records arrive through the supervisor, and every entry
            // names its kind.
            #expect(try journal.entries(["_PID=\(worker)"]).isEmpty, "the worker wrote to the journal itself")
            let all = try journal.entries([supervisor])
            #expect(all.count > 5)
            for entry in all {
                #expect(entry.string("SYSLOG_IDENTIFIER") == "livefeed", "\(entry.jsonText)")
                #expect(entry.string("MESSAGE_ID")?.count == 32 && entry.string("EVENT") != nil, "\(entry.jsonText)")
            }
            #expect(server.stderrText().isEmpty, "records went to stderr too:\n\(server.stderrTail())")
        }
    }

    @Test(.enabled(if: SystemdTools.canTryJournald, requirement))
    func withStderrConnectedToJournaldRecordsGoThereAsFieldsByThemselves() throws {
        let journal = try StandaloneJournald.start()
        defer { journal.stop() }
        let systemdCat = try #require(Subprocess.findExecutable(named: "systemd-cat"), "systemd-cat (package systemd)")
        // As systemd does for StandardError=journal: stderr is a journal stream, and JOURNAL_STREAM names it.
        var launch = Self.inside(journal)
        launch.wrapper += [
            systemdCat, "-t", "livefeed-stream", "/bin/sh", "-c",
            #"JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$0" "$@""#,
        ]
        try withLivefeed(workers: 1, launch: launch) { server in
            let listening = try journal.waitForEntries(["_PID=\(server.pid)", "EVENT=listening"], "listening")
            #expect(listening.first?.string("LOG_TARGET") == "journal", "\(listening.map(\.jsonText))")
            #expect(listening.first?.string("_TRANSPORT") == "journal", "sent as fields, not as a line of text")
            #expect(
                try journal.entries(["_PID=\(server.pid)", "_TRANSPORT=stdout"]).isEmpty,
                "no JSON lines on the stream")
        }
    }
}

extension JournaldTests {
    /// Runs livefeed in `journal`'s mount namespace; it is ready when the journal has its `ready` record, whose
    /// ADDRESS gives the port.
    static func inside(_ journal: StandaloneJournald) -> ServerProcess.Launch {
        ServerProcess.Launch(
            wrapper: journal.enter,
            readyPort: { pid in
                guard let address = try journal.entries(["_PID=\(pid)", "EVENT=ready"]).first?.string("ADDRESS"),
                    let colon = address.lastIndex(of: ":")
                else { return nil }
                return UInt16(address[address.index(after: colon)...])
            })
    }
}
