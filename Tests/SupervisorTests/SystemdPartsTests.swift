import Foundation
import LivefeedProtocol
import Testing

@testable import Supervisor

/// The pure parts of systemd support: journald fields, message ids and their catalog, socket names, the STATUS
/// line, the notify datagram, journal stream detection.
@Suite struct SystemdPartsTests {
    @Test func journalEntryCarriesTheFixedFieldsThenTheRecordsFieldsInJournaldNames() {
        let entry = JournalEntry(
            level: .warning, event: .connectionClosed, name: "connection_closed",
            fields: [
                "view": .string("channel"), "reason": .string("slow_consumer"), "conn": .int(42),
                "frames": .int(10), "dropped": .int(3), "bytes": .int(900), "close_code": .int(1013),
                "worker_pid": .int(77), "client": .string("127.0.0.1:5000"), "level": .string("ignored"),
            ])
        let fields = Dictionary(
            entry.assignments.map { line -> (String, String) in
                let parts = line.split(separator: "=", maxSplits: 1)
                return (String(parts[0]), String(parts[1]))
            }, uniquingKeysWith: { a, _ in a })
        #expect(entry.assignments.count == fields.count, "no field twice: \(entry.assignments)")
        #expect(fields["PRIORITY"] == "4")
        #expect(fields["SYSLOG_IDENTIFIER"] == "livefeed")
        #expect(fields["MESSAGE_ID"] == LogEvent.connectionClosed.messageID)
        #expect(fields["EVENT"] == "connection_closed")
        #expect(fields["VIEW"] == "channel" && fields["REASON"] == "slow_consumer")
        #expect(fields["CONN_ID"] == "42" && fields["DELIVERED_FRAMES"] == "10" && fields["DROPPED_FRAMES"] == "3")
        #expect(fields["DELIVERED_BYTES"] == "900" && fields["CLOSE_CODE"] == "1013" && fields["WORKER_PID"] == "77")
        #expect(fields["CLIENT"] == "127.0.0.1:5000")
        #expect(fields["LEVEL"] == nil, "level is PRIORITY")
        #expect(
            fields["MESSAGE"]
                == "connection_closed bytes=900 client=127.0.0.1:5000 close_code=1013 conn=42 dropped=3 frames=10 "
                + "reason=slow_consumer view=channel worker_pid=77")
    }

    @Test func fieldNamesAreWhatJournaldAccepts() {
        #expect(JournalEntry.fieldName("duration_ms") == "DURATION_MS")
        #expect(JournalEntry.fieldName("not-ready") == "NOT_READY")
        #expect(JournalEntry.fieldName("_secret") == "LIVEFEED__SECRET", "leading _ is journald's own")
        #expect(JournalEntry.fieldName("2fa") == "LIVEFEED_2FA", "no leading digit")
        #expect(JournalEntry.fieldName("message") == "LIVEFEED_MESSAGE", "not over MESSAGE")
        #expect(JournalEntry.fieldName("pid") == "WORKER_PID")
        #expect(JournalEntry.fieldName(String(repeating: "a", count: 100)).count == 64)
        for name in ["x", "_", "é", "a b", "MESSAGE_ID", ""] {
            let field = JournalEntry.fieldName(name)
            #expect(field.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "_") }, "\(field)")
            #expect(field.first?.isLetter == true, "\(name) → \(field)")
        }
    }

    @Test func messageValuesWithSpacesAreQuotedAndFieldsKeepNewlines() {
        let entry = JournalEntry(
            level: .error, event: .requestFailed, name: "request_failed",
            fields: ["error": .string("disk \"full\"\nagain"), "path": .string("/x")])
        #expect(entry.assignments.first == #"MESSAGE=request_failed error="disk \"full\"\nagain" path=/x"#)
        #expect(entry.assignments.contains("ERROR=disk \"full\"\nagain"))
        #expect(entry.assignments.contains("PRIORITY=3"))
    }

    @Test func unknownWorkerEventsKeepTheirNameUnderTheUnclassifiedID() {
        let entry = JournalEntry(level: .info, event: .unclassified, name: "brand_new", fields: [:])
        #expect(entry.assignments.contains("EVENT=brand_new"))
        #expect(entry.assignments.contains("MESSAGE_ID=\(LogEvent.unclassified.messageID)"))
    }

    @Test func everyEventHasItsOwnMessageIDAndACatalogEntry() throws {
        let ids = LogEvent.allCases.map(\.messageID)
        #expect(Set(ids).count == ids.count, "message ids are unique")
        for id in ids {
            #expect(id.count == 32 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase }, "\(id)")
        }
        let names = LogEvent.allCases.map(\.rawValue)
        #expect(Set(names).count == names.count)
        // systemd/livefeed.catalog, from this file's place in the repository.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let catalog = try String(contentsOf: root.appendingPathComponent("systemd/livefeed.catalog"), encoding: .utf8)
        let documented = catalog.split(separator: "\n").filter { $0.hasPrefix("-- ") }.map { String($0.dropFirst(3)) }
        #expect(Set(documented) == Set(ids), "catalog entries and LogEvent ids differ")
        #expect(documented.count == ids.count, "an id documented twice")
    }

    @Test func socketRolesComeFromTheirNames() throws {
        #expect(try SocketActivation.roles(for: ["http"]) == [.http])
        #expect(try SocketActivation.roles(for: ["http", "metrics"]) == [.http, .metrics])
        #expect(try SocketActivation.roles(for: ["metrics", "http", "http"]) == [.metrics, .http, .http])
        // No socket named for a role (systemd-socket-activate without --fdname, or a socket unit without
        // FileDescriptorName=, whose name then is the unit's): every socket serves everything.
        #expect(try SocketActivation.roles(for: ["unknown"]) == [.http])
        #expect(try SocketActivation.roles(for: ["livefeed.socket", "livefeed.socket"]) == [.http, .http])
        #expect(throws: SocketActivation.Failure.unknownName(fd: 4, name: "admin")) {
            try SocketActivation.roles(for: ["http", "admin"])
        }
        #expect(throws: SocketActivation.Failure.noHTTPSocket(names: ["metrics"])) {
            try SocketActivation.roles(for: ["metrics"])
        }
        #expect(throws: SocketActivation.Failure.noHTTPSocket(names: [])) {
            try SocketActivation.roles(for: [])  // every descriptor passed was carried: no listener at all
        }
        #expect(throws: SocketActivation.Failure.tooMany(9)) {
            try SocketActivation.roles(for: Array(repeating: "http", count: 9))
        }
    }

    @Test func statusLineSaysStateWorkersLiveRefusalsAndDrops() {
        var status = ServiceStatus(state: "serving", workersUp: 2, workersTotal: 2)
        #expect(status.line == "serving; workers 2/2; live 0; refused 0 in 1m; dropped 0 frames in 1m")
        status.live = [("channel", 3), ("metrics", 1)]
        status.refusals = ["client_cap": 2, "view_cap": 3, "bad_request": 2]
        status.droppedFrames = 120
        status.droppedConnections = 2
        #expect(
            status.line
                == "serving; workers 2/2; live 4 (channel 3, metrics 1); "
                + "refused 7 in 1m (view_cap 3, bad_request 2, client_cap 2); dropped 120 frames in 1m (2 connections)")
        status.moving = 40
        status.moved = 960
        #expect(status.line.hasSuffix("dropped 120 frames in 1m (2 connections); moving 40 (moved 960)"))
        status = ServiceStatus(state: "degraded: worker 1 crash-looping", workersUp: 1, workersTotal: 2)
        status.crashLooping = [1]
        #expect(status.line.hasPrefix("degraded: worker 1 crash-looping; workers 1/2 (crash-looping: 1); live 0"))
    }

    @Test func minuteCountsForgetWhatIsOlderThanAMinute() {
        var counts = MinuteCounts()
        counts.add("view_cap", nowMilliseconds: 1_000)
        counts.add("view_cap", 2, nowMilliseconds: 30_500)
        counts.add("client_cap", nowMilliseconds: 59_999)
        #expect(counts.totals(nowMilliseconds: 60_000) == ["view_cap": 3, "client_cap": 1])
        #expect(counts.totals(nowMilliseconds: 61_000) == ["view_cap": 2, "client_cap": 1], "the second at 1 s left")
        #expect(counts.totals(nowMilliseconds: 120_000) == [:])
        // A bucket is reused for its second a minute later, not added to.
        counts.add("view_cap", nowMilliseconds: 121_000)
        #expect(counts.totals(nowMilliseconds: 121_500) == ["view_cap": 1])
    }

    @Test func notifyDatagramsAreOneAssignmentPerLine() {
        #expect(
            Notifier.message([.reloading(monotonicMicroseconds: 1234), .status("reloading")])
                == "RELOADING=1\nMONOTONIC_USEC=1234\nSTATUS=reloading")
        #expect(Notifier.message([.status("two\nlines")]) == "STATUS=two lines", "STATUS stays one assignment")
        #expect(
            Notifier.message([.ready, .stopping, .watchdog, .extendTimeout(microseconds: 5)])
                == "READY=1\nSTOPPING=1\nWATCHDOG=1\nEXTEND_TIMEOUT_USEC=5")
    }

    @Test func journalStreamMatchesOnlyStderrsOwnDeviceAndInode() {
        #expect(Journal.streamMatches("8:12345", device: 8, inode: 12345))
        #expect(!Journal.streamMatches("8:12345", device: 8, inode: 12346))
        #expect(!Journal.streamMatches("9:12345", device: 8, inode: 12345))
        #expect(!Journal.streamMatches("", device: 0, inode: 0))
        #expect(!Journal.streamMatches("8", device: 8, inode: 0))
        #expect(Journal.target(for: .journal, journalStream: nil) == .journal)
        #expect(Journal.target(for: .stderr, journalStream: "1:1") == .stderr)
    }

    @Test func logTargetAndMetricsListenParse() throws {
        let c = try SupervisorConfig.parse(
            ["--log-target", "journal", "--metrics-listen", "127.0.0.1:9180"], environment: [:])
        #expect(c.logTarget == .journal)
        #expect(c.metricsListen == SocketAddress(host: "127.0.0.1", port: 9180))
        #expect(try SupervisorConfig.parse([], environment: [:]).logTarget == .auto)
        #expect(throws: SupervisorConfig.ParseError.self) {
            try SupervisorConfig.parse(["--log-target", "syslog"], environment: [:])
        }
    }
}
