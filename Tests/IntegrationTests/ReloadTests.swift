import Foundation
import Glibc
import Testing

/// SIGHUP replaces every worker without refusing a connection; SIGTERM drains and exits 0. Live clients are closed
/// with 1012, spread over the close window, with a retry suggestion, and resume by cursor: on a stop, and on a
/// reload with `--reload-mode close` (`HandoverTests` has the default, where they move without a close).
struct ReloadTests {
    @Test func sighupClosesFiftyLiveClientsWith1012AndTheyResumeWithNoGapAndNoDuplicate() throws {
        try withLivefeed(
            workers: 2, arguments: ["--close-spread-ms", "1000", "--max-per-client", "1000", "--reload-mode", "close"]
        ) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let oldWorkers = try server.waitForWorkers(2)
            let streams = try (0..<50).map { _ in
                try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            }
            defer { streams.forEach { $0.close() } }
            var posted = [try api.post(text: "before the reload")]
            for stream in streams { try stream.expectMessages(posted) }

            server.send(SIGHUP)
            // Connections made while the reload runs are served, writes included.
            for i in 1...5 {
                posted.append(try api.post(text: "during the reload \(i)"))
                #expect(try server.http.get("/api/channels").status == 200)
            }
            let endings = try awaitEndings(streams, timeout: .seconds(30))
            for (stream, ending) in zip(streams, endings) {
                guard case .closeFrame(let code, _) = ending.ending, code == 1012 else {
                    Issue.record("live client ended with \(ending.ending), not 1012")
                    continue
                }
                #expect(
                    (stream.lastRetryAfterMilliseconds ?? 0) > 0, "status before 1012: \(stream.envelopes.last ?? [:])")
            }
            let times = endings.map(\.at)
            let spread = times.max()! - times.min()!
            #expect(spread >= .milliseconds(300), "closes spread over \(spread), not over the 1 s window")
            #expect(Set(streams.compactMap(\.lastRetryAfterMilliseconds)).count > 1, "retry suggestions are jittered")

            try server.waitForLog("reload_complete") { $0.string("event") == "reload_complete" }
            for pid in oldWorkers.values {
                try server.waitForLog("old worker \(pid) exited") {
                    $0.string("event") == "worker_exited" && $0.int("pid") == Int(pid)
                }
            }
            let newWorkers = try server.waitForWorkers(2)
            #expect(Set(newWorkers.values).isDisjoint(with: Set(oldWorkers.values)))

            // Every client resumes from its own cursor and sees exactly what it missed, then what comes next.
            streams.forEach { $0.close() }
            posted += try (1...3).map { try api.post(text: "while the clients reconnect \($0)") }
            let resumed = try streams.map { stream in
                try LiveStream.open(
                    port: server.port, path: "/live/channels/\(channel)?after_id=\(try #require(stream.lastCursor))")
            }
            defer { resumed.forEach { $0.close() } }
            for (old, new) in zip(streams, resumed) {
                try new.expectMessages(posted.filter { $0 > old.lastCursor! })
            }
            let sentinel = try api.post(text: "sentinel")
            for stream in resumed { try stream.expectMessages([sentinel]) }
            resumed.forEach { $0.close() }
            let scrape = try server.waitForGaugesAtZero()
            #expect(scrape.value("livefeed_generation") == 2)
            #expect(scrape.value("livefeed_reloads_total") == 1)
            #expect(scrape.count("livefeed_connections_refused_total", ["view": "http", "reason": "no_worker"]) == 0)
        }
    }

    @Test func everyConnectionAttemptedDuringAReloadIsServed() throws {
        try withLivefeed(workers: 2, arguments: ["--close-spread-ms", "300", "--reload-mode", "close"]) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let oldWorkers = Set(try server.waitForWorkers(2).values)
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            defer { stream.close() }

            server.send(SIGHUP)
            var attempts = 0
            var failures: [String] = []
            let deadline = ContinuousClock.now + .seconds(20)
            // Until the old workers are gone (their live client is closed with 1012 and has up to 2 s to answer).
            while ContinuousClock.now < deadline && attempts < 2000 {
                attempts += 1
                do {
                    if attempts % 10 == 0 {
                        let live = try WebSocketClient.connect(
                            port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
                        live.close()
                    } else {
                        let response = try server.http.get("/api/metrics")
                        if response.status != 200 { failures.append("attempt \(attempts): \(response)") }
                    }
                } catch {
                    failures.append("attempt \(attempts): \(error)")
                }
                let reloaded = server.logLines().contains { $0.string("event") == "reload_complete" }
                if reloaded && oldWorkers.allSatisfy({ !Subprocess.isAlive($0) }) { break }
                usleep(5_000)
            }
            #expect(failures.isEmpty, "\(failures.count) of \(attempts) attempts failed: \(failures.prefix(5))")
            #expect(
                oldWorkers.allSatisfy { !Subprocess.isAlive($0) }, "old workers still alive after \(attempts) attempts")
            #expect(attempts >= 2)
            let ending = try stream.awaitEnding(timeout: .seconds(10))
            #expect(ending == .closeFrame(code: 1012, reason: "restart"), "\(ending)")
        }
    }

    @Test func sigtermClosesLiveClientsWith1012SpreadWithARetryAndExitsZero() throws {
        try withLivefeed(workers: 2, arguments: ["--close-spread-ms", "800"]) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let streams = try (0..<20).map { _ in
                try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            }
            defer { streams.forEach { $0.close() } }
            let last = try api.post(text: "before the stop")
            for stream in streams { try stream.expectMessages([last]) }

            server.send(SIGTERM)
            let endings = try awaitEndings(streams, timeout: .seconds(20))
            for (stream, ending) in zip(streams, endings) {
                #expect(ending.ending == .closeFrame(code: 1012, reason: "restart"), "\(ending.ending)")
                // A stop is usually a restart: the suggestion is longer than a reload's, and jittered.
                let retry = stream.lastRetryAfterMilliseconds ?? 0
                #expect((1000...3000).contains(retry), "retry_after_ms \(retry)")
            }
            let times = endings.map(\.at)
            #expect(times.max()! - times.min()! >= .milliseconds(200), "closes are spread over the window")
            #expect(server.stop() == .exited(0))
            #expect(server.logLines().contains { $0.string("event") == "stopped" })
        }
    }

    @Test func reloadWhoseNewWorkersNeverGetReadyIsAbandonedAndTheOldOnesKeepServing() throws {
        try withLivefeed(
            workers: 1,
            prepare: { directory in
                let script = "\(directory)/flaky-worker"
                let real = try LivefeedBinaries.directory() + "/livefeed-worker"
                let text = """
                    #!/bin/sh
                    if [ "$1" = serve ] && [ -e '\(directory)/broken' ]; then exit 3; fi
                    exec '\(real)' "$@"

                    """
                try text.write(toFile: script, atomically: true, encoding: .utf8)
                chmod(script, 0o755)
                return [
                    "--worker-path", script, "--reload-timeout-ms", "2000", "--close-spread-ms", "100",
                    "--reload-mode", "close",
                ]
            }
        ) { server in
            server.isExpectedErrorRecord = { record in
                let event = record.string("event") ?? ""
                return event == "reload_failed" || event.hasPrefix("worker_")
            }
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let stream = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
            defer { stream.close() }

            #expect(FileManager.default.createFile(atPath: "\(server.directory)/broken", contents: Data()))
            server.send(SIGHUP)
            try server.waitForLog("reload_failed") { $0.string("event") == "reload_failed" }
            // Nothing happened to the clients of the old worker, and new connections are still served.
            try stream.expectMessages([try api.post(text: "after the failed reload")])
            #expect(try server.http.get("/api/metrics").status == 200)
            try eventually(timeout: .seconds(10), "healthy again once the failed generation is gone") {
                try server.http.get("/healthz").status == 200
            }
            let scrape = try server.scrapeMetrics()
            #expect(scrape.value("livefeed_reload_failures_total") == 1)
            #expect(scrape.value("livefeed_reload_in_progress") == 0)

            // Fixed: the next SIGHUP goes through, and the stream is handed over with 1012.
            try FileManager.default.removeItem(atPath: "\(server.directory)/broken")
            server.send(SIGHUP)
            try server.waitForLog("reload_complete") { $0.string("event") == "reload_complete" }
            #expect(try stream.awaitEnding(timeout: .seconds(10)) == .closeFrame(code: 1012, reason: "restart"))
            let resumed = try LiveStream.open(
                port: server.port, path: "/live/channels/\(channel)?after_id=\(try #require(stream.lastCursor))")
            defer { resumed.close() }
            try resumed.expectMessages([try api.post(text: "after the good reload")])
        }
    }
}
