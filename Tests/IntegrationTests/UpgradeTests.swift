import Foundation
import Glibc
import Testing

/// `livefeed upgrade PID`: the supervisor re-executes itself and keeps every connection. Live clients see no
/// status and no close and miss nothing; a client half-way through its request head is answered by the new process.
struct UpgradeTests {
    @Test func upgradeReExecutesTheSupervisorWithoutAClientNoticing() throws {
        try withLivefeed(workers: 2) { server in try Self.upgrade(server) }
    }

    private static func upgrade(_ server: ServerProcess) throws {
        let api = LivefeedAPI(server)
        let first = try api.post(text: "creates the channel")
        let channel = try api.channelID(named: "general")
        let epoch = try #require(try api.metrics().string("epoch"))
        let oldWorkers = try server.waitForWorkers(2)
        let streams = try (0..<10).map { _ in
            try LiveStream.open(
                port: server.port, path: "/live/channels/\(channel)?after_id=\(first)", expectedEpoch: epoch)
        }
        defer { streams.forEach { $0.close() } }
        let page = try HTMLLiveStream.open(
            port: server.port, path: "/live/channels/\(channel)?after_id=\(first)&format=html")
        defer { page.close() }
        var posted = [try api.post(text: "before the upgrade")]
        for stream in streams { try stream.expectMessages(posted) }
        // Half a request head: the supervisor holds it, and passes it on.
        let slow = try TCPSocket(connectingToPort: server.port)
        defer { slow.close() }
        try slow.send(Array("GET /api/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n".utf8))

        let livefeed = try LivefeedBinaries.directory() + "/livefeed"
        let signalled = try Subprocess.run(livefeed, ["upgrade", String(server.pid)])
        #expect(signalled.status == .exited(0), "livefeed upgrade: \(signalled.stderr)")
        var posting = 0
        while !server.logLines().contains(where: { $0.string("event") == "upgrade_restored" }) && posting < 1000 {
            posting += 1
            posted.append(try api.post(text: "during the upgrade \(posting)"))
        }
        let restored = try server.waitForLog("the new process restored the connections") {
            $0.string("event") == "upgrade_restored"
        }
        #expect(restored.int("live") == 11 && restored.int("pending") == 1, "\(restored.jsonText)")
        posted += try (1...3).map { try api.post(text: "after the upgrade \($0)") }

        for stream in streams {
            try stream.expectMessages(Array(posted.dropFirst()))
            #expect(!stream.envelopes.contains { $0.string("type") == "status" }, "\(stream.path) got a status")
        }
        _ = try page.next("the last message") { $0.id == "messages" && $0.cursor == posted.last }
        #expect(HandoverTests.messageIDs(page) == posted, "the html client's messages")

        try slow.send(Array("\r\n".utf8))
        let head = try slow.read(
            until: Array("\r\n\r\n".utf8), limit: 8192, deadline: .now + .seconds(10), waitingFor: "the answer")
        #expect(String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 200"), "\(String(decoding: head, as: UTF8.self))")

        // The same supervisor process (pid), new workers, and it still serves new connections.
        let newWorkers = try server.waitForWorkers(2)
        #expect(Set(newWorkers.values).isDisjoint(with: Set(oldWorkers.values)))
        #expect(kill(server.pid, 0) == 0)
        #expect(try server.http.get("/healthz").status == 200)
        let moved = server.logLines().filter { $0.string("event") == "connection_moved" && $0.int("from_worker") == -1 }
        #expect(moved.count == 11, "\(moved.count) connections restored")
        #expect(server.logLines().contains { $0.string("event") == "upgrade_exec" })
    }

    /// The binary to upgrade to is gone: nothing has moved yet, so the supervisor recovers. The live connections it
    /// held are closed with 1012 (their clients resume by cursor), a new generation of workers starts, and it
    /// serves on in the same process.
    @Test func anUpgradeToAMissingBinaryFallsBackToReconnects() throws {
        let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-upgrade-")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // livefeed runs from a copy that the test can take away (the workers from the real build).
        let copy = "\(directory)/livefeed-copy"
        let script = "#!/bin/sh\ncp \"$1\" '\(copy)' && shift && exec '\(copy)' \"$@\"\n"
        let wrapper = try writeExecutableScript(script, named: "run-a-copy", in: directory)
        let worker = try LivefeedBinaries.directory() + "/livefeed-worker"
        try withLivefeed(
            workers: 1, arguments: ["--worker-path", worker], launch: ServerProcess.Launch(wrapper: [wrapper])
        ) { server in
            server.isExpectedErrorRecord = { $0.string("event") == "upgrade_failed" }
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let streams = try (0..<3).map { _ in
                try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            }
            defer { streams.forEach { $0.close() } }
            let before = try api.post(text: "before the upgrade")
            for stream in streams { try stream.expectMessages([before]) }

            try FileManager.default.removeItem(atPath: copy)
            kill(server.pid, SIGUSR2)
            let failed = try server.waitForLog("upgrade_failed") { $0.string("event") == "upgrade_failed" }
            #expect(failed.string("path") == copy, "\(failed.jsonText)")
            for stream in streams {
                let ending = try stream.awaitEnding(timeout: .seconds(10))
                guard case .closeFrame(let code, _) = ending else {
                    Issue.record("ended with \(ending), not 1012")
                    continue
                }
                #expect(code == 1012)
            }
            try server.waitForLog("new workers serve") { $0.string("event") == "reload_complete" }
            let resumed = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channel)?after_id=\(try #require(streams[0].lastCursor))")
            defer { resumed.close() }
            try resumed.expectMessages([try api.post(text: "after the failed upgrade")])
            #expect(kill(server.pid, 0) == 0)
        }
    }
}
