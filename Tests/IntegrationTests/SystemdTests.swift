import Foundation
import Glibc
import Testing

/// livefeed under systemd's protocols, exercised with the real programs and no systemd as PID 1 (see
/// ../shared/TESTING.md): sockets passed by systemd-socket-activate, a test-owned NOTIFY_SOCKET, the watchdog.
/// The journald tests are in `JournaldTests`.
struct SystemdTests {
    static let flakyWorkerNote = "the worker exits 3 while a file named broken exists in the server's directory"

    @Test(.enabled(if: SystemdTools.canTrySocketActivation, "needs systemd-socket-activate (package systemd)"))
    func socketActivatedSupervisorServesPagesAndLiveStreamsOnThePassedSockets() throws {
        try SystemdTools.require(SystemdTools.socketActivationMissing, for: "socket activation")
        let (httpPort, metricsPort) = (try SystemdTools.freePort(), try SystemdTools.freePort())
        var first: HTTPConnection?
        let launch = ServerProcess.Launch(
            wrapper: [
                SystemdTools.socketActivate!, "-l", "127.0.0.1:\(httpPort)", "-l", "127.0.0.1:\(metricsPort)",
                "--fdname=http:metrics",
            ],
            listenArguments: [],
            afterSpawn: { _ in
                // systemd-socket-activate execs livefeed on the first connection. Its request waits in the backlog
                // while livefeed starts, and must be served, not refused.
                let connection = try eventuallyValue(timeout: .seconds(10), "systemd-socket-activate listening") {
                    try? HTTPConnection(port: httpPort)
                }
                first = connection
                try connection.send("GET", "/api/metrics")
            })
        try withLivefeed(workers: 2, environment: ["SYSTEMD_LOG_LEVEL": "warning"], launch: launch) { server in
            defer { first?.close() }
            let answer = try #require(first).readResponse()
            #expect(answer.status == 200, "the connection that started the service: \(answer)")
            #expect(server.port == httpPort)
            let listening = try server.waitForLog("listening") { $0.string("event") == "listening" }
            #expect(listening.string("sockets") == "systemd", "\(listening.jsonText)")
            #expect(listening.string("metrics_address") == "127.0.0.1:\(metricsPort)", "\(listening.jsonText)")

            // Pages, API and a live stream on the http socket.
            let api = LivefeedAPI(server)
            let before = try api.post(text: "before the stream")
            let channel = try api.channelID(named: "general")
            #expect(try server.http.get("/channels/\(channel)").status == 200)
            let stream = try LiveStream.open(port: httpPort, path: "/live/channels/\(channel)?after_id=\(before)")
            defer { stream.close() }
            try stream.expectMessages([try api.post(text: "live over the passed socket")])

            // The supervisor's endpoints on the metrics socket only (/healthz on both).
            let metrics = HTTPClient(port: metricsPort)
            let scrape = try metrics.get("/metrics")
            #expect(scrape.status == 200 && scrape.text.contains("livefeed_connections{view=\"channel\"} 1"))
            #expect(try metrics.get("/status").status == 200)
            #expect(try metrics.get("/healthz").status == 200)
            let notHere = try metrics.get("/api/metrics")
            #expect(
                notHere.status == 404 && (try? notHere.jsonObject())?.object("error")?.string("code") == "not_found")
            #expect(try server.http.get("/metrics").status == 404, "/metrics stays private")
            #expect(try server.http.get("/status").status == 404, "/status stays private")
            #expect(try server.http.get("/healthz").status == 200, "/healthz stays for load balancers")

            // Workers inherit neither the sockets nor the variables that name them.
            let listenerInodes = Set([3, 4].compactMap { Self.descriptorTarget(pid: server.pid, fd: $0) })
            #expect(listenerInodes.count == 2 && listenerInodes.allSatisfy { $0.hasPrefix("socket:") })
            for worker in try server.waitForWorkers(2).values {
                let environment = Self.environment(of: worker)
                for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
                    #expect(environment[name] == nil, "worker \(worker) inherited \(name)")
                }
                let held = Set(Self.descriptorTargets(pid: worker))
                #expect(held.isDisjoint(with: listenerInodes), "worker \(worker) holds a listening socket")
            }
        }
    }

    @Test(.enabled(if: SystemdTools.canTrySocketActivation, "needs systemd-socket-activate (package systemd)"))
    func socketsLivefeedCannotServeAreRefusedWithTheReason() throws {
        try SystemdTools.require(SystemdTools.socketActivationMissing, for: "socket activation")
        // With --accept, systemd-socket-activate forks livefeed per connection and stays; otherwise it execs.
        let cases: [(name: String, options: (UInt16, UInt16) -> [String], datagram: Bool, execs: Bool, says: String)] =
            [
                (
                    "a datagram socket", { p, _ in ["--datagram", "-l", "127.0.0.1:\(p)"] }, true, true,
                    "not a listening TCP socket"
                ),
                (
                    "an accepted connection", { p, _ in ["--accept", "-l", "127.0.0.1:\(p)"] }, false, false,
                    "not a listening TCP socket"
                ),
                (
                    "a socket of unknown name",
                    { ["-l", "127.0.0.1:\($0)", "-l", "127.0.0.1:\($1)", "--fdname=http:admin"] },
                    false, true, "named 'admin'"
                ),
                (
                    "no http socket", { p, _ in ["-l", "127.0.0.1:\(p)", "--fdname=metrics"] }, false, true,
                    "one must be named http"
                ),
            ]
        for c in cases {
            let notify = try NotifySocket()
            defer { notify.close() }
            let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-activation-")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let (port, other) = (try SystemdTools.freePort(), try SystemdTools.freePort())
            let pid = try Subprocess.spawn(
                executable: SystemdTools.socketActivate!,
                arguments: c.options(port, other) + ["-E", "NOTIFY_SOCKET=\(notify.path)"] + [
                    try LivefeedBinaries.directory() + "/livefeed", "--workers", "1", "--db", "\(directory)/l.db",
                ],
                // systemd-socket-activate passes on only the variables given with -E.
                environment: ["SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"],
                stdoutPath: "\(directory)/stdout", stderrPath: "\(directory)/stderr", newProcessGroup: true)
            var reaped = false
            defer {
                killpg(pid, SIGKILL)
                if !reaped { _ = Subprocess.waitForExit(pid, timeout: .seconds(5)) }
            }
            let stderrPath = "\(directory)/stderr"
            func failure() -> [String: Any]? {
                let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                return text.split(separator: "\n").compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                }.first { $0.string("event") == "socket_activation_failed" }
            }
            // Knock until livefeed has run and said why it refuses (a datagram sent before the socket is bound is
            // simply lost, so keep sending).
            let record = try eventuallyValue(
                timeout: .seconds(15), pollingEvery: .milliseconds(50), "\(c.name): the refusal"
            ) {
                () -> [String: Any]? in
                if let record = failure() { return record }
                if c.datagram {
                    _ = try Self.sendDatagram(to: port)
                } else {
                    _ = try? TCPSocket(connectingToPort: port)
                }
                return nil
            }
            #expect(record.string("level") == "error", "\(c.name): \(record.jsonText)")
            #expect(record.string("error")?.contains(c.says) == true, "\(c.name): \(record.jsonText)")
            if c.execs {
                let status = Subprocess.waitForExit(pid, timeout: .seconds(15))
                reaped = status != nil
                #expect(status == .exited(1), "\(c.name): \(String(describing: status))")
            }
            try notify.collect(for: .milliseconds(200))
            #expect(
                notify.received.contains {
                    $0.value("STATUS")?.hasPrefix("failed: ") == true && (!c.execs || $0.pid == pid)
                },
                "\(c.name): STATUS=failed: … from livefeed; got \(notify.received)")
        }
    }

    @Test func notifySocketHearsReadyStatusReloadingReadyAndStoppingInOrder() throws {
        let notify = try NotifySocket()
        defer { notify.close() }
        let began = ContinuousClock.now
        try withLivefeed(
            workers: 2, arguments: ["--max-live-per-view", "channel=1", "--close-spread-ms", "200"],
            environment: ["NOTIFY_SOCKET": notify.path]
        ) { server in
            let ready = try notify.wait(for: "READY=1") { $0.has("READY", "1") }
            #expect(ready.value("STATUS")?.hasPrefix("serving; workers 2/2; live 0") == true, "\(ready)")

            // STATUS follows what happens: a live stream, a refusal for its view's cap.
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let path = "/live/channels/\(channel)?after_id=\(first)"
            let stream = try LiveStream.open(port: server.port, path: path)
            defer { stream.close() }
            expectRefusal(try refusedUpgrade(port: server.port, path: path), status: 503, code: "view_cap", json: true)
            try notify.wait(for: "a STATUS with the stream and the refusal", timeout: .seconds(5)) {
                let status = $0.value("STATUS") ?? ""
                return status.contains("live 1 (channel 1)") && status.contains("refused 1 in 1m (view_cap 1)")
            }

            // SIGHUP: RELOADING=1 with this moment's CLOCK_MONOTONIC in µs, in the same datagram; READY=1 once the
            // new workers serve.
            let before = Self.monotonicMicroseconds()
            server.send(SIGHUP)
            let reloading = try notify.wait(for: "RELOADING=1") { $0.has("RELOADING", "1") }
            let after = Self.monotonicMicroseconds()
            let stamp = try #require(reloading.value("MONOTONIC_USEC").flatMap { UInt64($0) }, "\(reloading)")
            #expect((before...after).contains(stamp), "MONOTONIC_USEC \(stamp) not within \(before)...\(after)")
            #expect(reloading.value("STATUS")?.hasPrefix("reloading") == true, "\(reloading)")
            let reloaded = try notify.wait(for: "READY=1 after the reload") { $0.has("READY", "1") }
            #expect(
                server.logLines().contains { $0.string("event") == "reload_complete" },
                "READY=1 came before the new workers all served")
            #expect(reloaded.value("STATUS")?.hasPrefix("serving; workers 2/2") == true, "\(reloaded)")

            for worker in try server.waitForWorkers(2).values {
                for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
                    #expect(Self.environment(of: worker)[name] == nil, "worker \(worker) inherited \(name)")
                }
            }

            // SIGTERM: STOPPING=1, with time to drain.
            #expect(server.stop() == .exited(0))
            try notify.collect(for: .milliseconds(200))
            let stopping = try #require(notify.received.first { $0.has("STOPPING", "1") }, "\(notify.received)")
            #expect(stopping.value("EXTEND_TIMEOUT_USEC").flatMap { UInt64($0) }.map { $0 > 0 } == true, "\(stopping)")
            // The last STATUS= says it stopped, not "stopping…".
            let lastStatus = notify.received.last { $0.value("STATUS") != nil }?.value("STATUS")
            #expect(lastStatus?.hasPrefix("stopped") == true, "\(notify.received)")

            let lifecycle = notify.received.compactMap { message -> String? in
                ["READY", "RELOADING", "STOPPING"].first { message.has($0, "1") }
            }
            #expect(lifecycle == ["READY", "RELOADING", "READY", "STOPPING"], "\(notify.received)")
            #expect(notify.received.allSatisfy { $0.pid == server.pid }, "only the main pid speaks: \(notify.received)")
            // Between the big moments STATUS is sent at most once a second. (Counted, not timed: datagrams queue
            // while the test does other things, so their arrival here says little about when they were sent.)
            let statusOnly = notify.received.filter { $0.assignments.allSatisfy { $0.key == "STATUS" } }
            // Whole seconds begun, not completed: one at the start, then one per second begun (a reload's handover
            // changes the line, "moving N", so none of them is left out as a repeat).
            let elapsed = ContinuousClock.now - began
            let seconds = Int(elapsed.components.seconds) + (elapsed.components.attoseconds > 0 ? 1 : 0)
            #expect(statusOnly.count <= seconds + 1, "\(statusOnly.count) STATUS updates in \(elapsed)")
        }
    }

    @Test func watchdogPingsStopWhileTheSupervisorIsFrozenAndResumeWhenItRunsAgain() throws {
        let notify = try NotifySocket()
        defer { notify.close() }
        // WATCHDOG_USEC of 2 s: a ping every second, and systemd would act after 2 s without one.
        try withLivefeed(workers: 1, environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"]) {
            server in
            try notify.wait(for: "READY=1") { $0.has("READY", "1") }
            let pings = try notify.collect(for: .seconds(3)).filter { $0.has("WATCHDOG", "1") }
            #expect(pings.count >= 2, "WATCHDOG=1 every second: \(pings.count) in 3 s")
            for (a, b) in zip(pings, pings.dropFirst()) {
                #expect(b.receivedAt - a.receivedAt < .seconds(2), "a gap of \(b.receivedAt - a.receivedAt)")
            }

            kill(server.pid, SIGSTOP)
            defer { kill(server.pid, SIGCONT) }
            try notify.collect(for: .milliseconds(200))  // anything already on its way
            let whileStopped = try notify.collect(for: .seconds(3)).filter { $0.has("WATCHDOG", "1") }
            #expect(whileStopped.isEmpty, "a stopped supervisor must not look alive: \(whileStopped)")

            kill(server.pid, SIGCONT)
            try notify.wait(for: "WATCHDOG=1 after SIGCONT", timeout: .seconds(4)) { $0.has("WATCHDOG", "1") }
        }
    }

    @Test func watchdogIsWithheldWhileEveryWorkerKeepsCrashingAndResumesWhenTheyServeAgain() throws {
        let notify = try NotifySocket()
        defer { notify.close() }
        try withLivefeed(
            workers: 2, environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"],
            prepare: Self.flakyWorker
        ) { server in
            server.isExpectedErrorRecord = { ($0.string("event") ?? "").hasPrefix("worker_") }
            try notify.wait(for: "READY=1") { $0.has("READY", "1") }
            try notify.wait(for: "WATCHDOG=1") { $0.has("WATCHDOG", "1") }
            let workers = try server.waitForWorkers(2)

            #expect(FileManager.default.createFile(atPath: "\(server.directory)/broken", contents: Data()))
            let killedAt = ContinuousClock.now
            for pid in workers.values { kill(pid, SIGKILL) }
            // The supervisor learns of the deaths at once (SIGCHLD); a ping already on its way is read within the
            // first second, and none may follow.
            let afterKill = try notify.collect(for: .seconds(4))
            let late = afterKill.filter { $0.has("WATCHDOG", "1") && $0.receivedAt > killedAt + .seconds(1) }
            #expect(late.isEmpty, "WATCHDOG=1 while no worker serves: \(late)")
            #expect(
                afterKill.contains { $0.value("STATUS")?.hasPrefix("degraded") == true },
                "STATUS says degraded: \(afterKill)")
            let withheld = try server.waitForLog("watchdog_withheld") { $0.string("event") == "watchdog_withheld" }
            #expect(withheld.string("level") == "warning")
            try server.waitForLog("worker_crash_loop") { $0.string("event") == "worker_crash_loop" }
            #expect(try server.http.get("/healthz").status == 503)

            // Fixed: the workers come back, stay up until their crash loop is over, and the pings resume.
            try FileManager.default.removeItem(atPath: "\(server.directory)/broken")
            try notify.wait(for: "WATCHDOG=1 once the pool is healthy", timeout: .seconds(30)) {
                $0.has("WATCHDOG", "1")
            }
            try server.waitForLog("watchdog_resumed") { $0.string("event") == "watchdog_resumed" }
            #expect(try server.http.get("/healthz").status == 200)
        }
    }

    @Test func withoutSystemdMetricsListenBindsTheSameKindOfPrivateSocket() throws {
        try withLivefeed(workers: 1, arguments: ["--metrics-listen", "127.0.0.1:0"]) { server in
            let listening = try server.waitForLog("listening") { $0.string("event") == "listening" }
            #expect(listening.string("sockets") == "bound")
            let address = try #require(listening.string("metrics_address"), "\(listening.jsonText)")
            let metrics = HTTPClient(port: try #require(UInt16(address.split(separator: ":").last ?? "")))
            #expect(try metrics.get("/metrics").status == 200)
            #expect(try metrics.get("/channels").status == 404)
            #expect(try server.http.get("/metrics").status == 404)
            #expect(try server.http.get("/channels").status == 200)
        }
    }

    @Test func socketsPassedToAnotherProcessAreLeftAloneAndNotInherited() throws {
        // LISTEN_PID names someone else (a variable that leaked through a wrapper): bind --listen as usual.
        let passed = ["LISTEN_FDS": "1", "LISTEN_PID": "1", "LISTEN_FDNAMES": "http"]
        try withLivefeed(workers: 1, environment: passed) { server in
            let listening = try server.waitForLog("listening") { $0.string("event") == "listening" }
            #expect(listening.string("sockets") == "bound", "\(listening.jsonText)")
            #expect(try server.http.get("/healthz").status == 200)
            for worker in try server.waitForWorkers(1).values {
                for name in passed.keys {
                    #expect(Self.environment(of: worker)[name] == nil, "worker \(worker) inherited \(name)")
                }
            }
        }
    }

    @Test func aJournalStreamThatIsNotStderrLeavesRecordsOnStderr() throws {
        // JOURNAL_STREAM inherited through a shell whose stderr was redirected names another file.
        try withLivefeed(workers: 1, environment: ["JOURNAL_STREAM": "8:12345"]) { server in
            let listening = try server.waitForLog("listening") { $0.string("event") == "listening" }
            #expect(listening.string("log_target") == "stderr")
        }
    }
}

extension SystemdTests {
    /// A worker wrapper that fails while `broken` exists in the server's directory.
    static func flakyWorker(_ directory: String) throws -> [String] {
        let script = "\(directory)/flaky-worker"
        let real = try LivefeedBinaries.directory() + "/livefeed-worker"
        let text = """
            #!/bin/sh
            if [ "$1" = serve ] && [ -e '\(directory)/broken' ]; then exit 3; fi
            exec '\(real)' "$@"

            """
        try text.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return ["--worker-path", script]
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// A process's environment as it was at exec (/proc/PID/environ).
    static func environment(of pid: pid_t) -> [String: String] {
        guard let data = ProcFile.read("/proc/\(pid)/environ") else { return [:] }
        var result: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return result
    }

    /// What descriptor `fd` of `pid` refers to ("socket:[123]"), from /proc.
    static func descriptorTarget(pid: pid_t, fd: Int) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/\(pid)/fd/\(fd)", &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    static func descriptorTargets(pid: pid_t) -> [String] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return fds.compactMap { Int($0) }.compactMap { descriptorTarget(pid: pid, fd: $0) }
    }

    /// Sends one UDP datagram to 127.0.0.1:`port`; true once sent.
    static func sendDatagram(to port: UInt16) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system(call: "socket", errno: errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return sent == 1
    }
}
