import Foundation
import Glibc
import Testing

/// One running livefeed server (the supervisor and, through it, its workers) in its own temp directory.
///
/// `start` spawns `livefeed --listen 127.0.0.1:0 --workers N --db DIR/livefeed.db ...` as the leader of a new
/// process group, with stdout and stderr in files in DIR, and returns once stderr carries the `ready` record.
/// `tearDown` stops it with SIGTERM, records an issue unless it exits 0 with no error-level record, kills anything
/// the server left alive and removes DIR. Prefer `withLivefeed`, which pairs the two.
///
/// Environment: `LIVEFEED_BIN_DIR` (where `livefeed` is), `LIVEFEED_KEEP_TMP=1` (keep DIR for a post-mortem),
/// `LIVEFEED_PRINT_LOGS=1` (print the server's stderr at teardown).
final class ServerProcess {
    /// The supervisor's pid, also the pgid of its group.
    let pid: pid_t
    /// The port the server bound, from the `ready` record.
    let port: UInt16
    let directory: String
    let databasePath: String
    let stdoutPath: String
    let stderrPath: String
    let executablePath: String

    /// Error-level records a test provokes on purpose (e.g. killing a worker); teardown does not count them.
    var isExpectedErrorRecord: ([String: Any]) -> Bool = { _ in false }

    private(set) var exitStatus: ExitStatus?
    private var tornDown = false

    private init(pid: pid_t, port: UInt16, directory: String, executablePath: String) {
        self.pid = pid
        self.port = port
        self.directory = directory
        self.databasePath = "\(directory)/livefeed.db"
        self.stdoutPath = "\(directory)/stdout.log"
        self.stderrPath = "\(directory)/stderr.log"
        self.executablePath = executablePath
    }

    /// Environment variables that would make the server believe systemd started it.
    static let systemdVariables: Set<String> = [
        "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM", "WATCHDOG_USEC",
        "WATCHDOG_PID", "INVOCATION_ID",
    ]

    /// Starts a server and waits for its `ready` record (or, with `untilReady: false`, only for `listening`, for
    /// servers whose workers are not expected to all come up). `prepare` may write files into the server's
    /// directory (e.g. a fake worker) before it starts; it gets the directory and returns extra arguments.
    static func start(
        workers: Int = 2, arguments: [String] = [], environment extraEnvironment: [String: String] = [:],
        untilReady: Bool = true, readyTimeout: Duration = .seconds(30),
        prepare: (String) throws -> [String] = { _ in [] }
    ) throws -> ServerProcess {
        let executable = try LivefeedBinaries.directory() + "/livefeed"
        let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-itest-")
        let environment = ProcessInfo.processInfo.environment.filter { !systemdVariables.contains($0.key) }
            .merging(extraEnvironment) { _, new in new }
        let preparedArguments: [String]
        do {
            preparedArguments = try prepare(directory)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        let spawnedPID: pid_t
        do {
            spawnedPID = try Subprocess.spawn(
                executable: executable,
                arguments: ["--listen", "127.0.0.1:0", "--workers", "\(workers)", "--db", "\(directory)/livefeed.db"]
                    + arguments + preparedArguments,
                environment: environment, stdoutPath: "\(directory)/stdout.log",
                stderrPath: "\(directory)/stderr.log", newProcessGroup: true)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }

        let deadline = ContinuousClock.now + readyTimeout
        while true {
            let probe = ServerProcess(pid: spawnedPID, port: 0, directory: directory, executablePath: executable)
            let readyEvent = untilReady ? "ready" : "listening"
            if let ready = probe.logLines().first(where: { $0.string("event") == readyEvent }) {
                guard let address = ready.string("address"), let colon = address.lastIndex(of: ":"),
                    let port = UInt16(address[address.index(after: colon)...]), port != 0
                else {
                    probe.abandon()
                    throw SubprocessError(description: "ready record without a usable address: \(ready.jsonText)")
                }
                return ServerProcess(pid: spawnedPID, port: port, directory: directory, executablePath: executable)
            }
            if let status = Subprocess.exitStatusIfEnded(spawnedPID) {
                probe.exitStatus = status
                let log = probe.stderrTail()
                probe.abandon()
                throw SubprocessError(description: "livefeed ended (\(status)) before it was ready; stderr:\n\(log)")
            }
            if ContinuousClock.now >= deadline {
                let log = probe.stderrTail()
                probe.abandon()
                throw SubprocessError(description: "livefeed not ready within \(readyTimeout); stderr:\n\(log)")
            }
            usleep(20_000)
        }
    }

    /// A plain HTTP client for this server.
    var http: HTTPClient { HTTPClient(port: port) }

    // MARK: Logs

    /// Everything the server wrote to stderr so far.
    func stderrText() -> String {
        (FileManager.default.contents(atPath: stderrPath)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Complete stderr lines (a line still being written is left out).
    private func completeStderrLines() -> [Substring] {
        let text = stderrText()
        let complete = text.hasSuffix("\n") ? Substring(text) : text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]
        return complete.split(separator: "\n", omittingEmptySubsequences: true)
    }

    /// Every stderr line that is a JSON object, in order.
    func logLines() -> [[String: Any]] {
        completeStderrLines().compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// Stderr lines that are not JSON objects; the contract says there should be none.
    func nonJSONStderrLines() -> [String] {
        completeStderrLines().filter { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] == nil
        }.map(String.init)
    }

    /// The last lines of stderr, for failure messages.
    func stderrTail(lines count: Int = 40) -> String {
        completeStderrLines().suffix(count).joined(separator: "\n")
    }

    /// Polls stderr until a record satisfies `predicate` and returns it; throws after `timeout`.
    @discardableResult
    func waitForLog(
        _ description: String, timeout: Duration = .seconds(15), where predicate: ([String: Any]) -> Bool
    ) throws -> [String: Any] {
        try eventuallyValue(timeout: timeout, "a log record: \(description)\nstderr:\n\(stderrTail())") {
            logLines().first(where: predicate)
        }
    }

    /// Records that are errors (level error or worse).
    func errorRecords() -> [[String: Any]] {
        let errorLevels: Set<String> = ["error", "err", "crit", "critical", "alert", "emerg", "emergency", "fatal"]
        return logLines().filter { errorLevels.contains(($0.string("level") ?? "").lowercased()) }
    }

    // MARK: Workers

    /// Running workers, index → pid: the newest `worker_started` per index whose pid has no later `worker_exited`.
    func workerPIDs() -> [Int: pid_t] {
        var workers: [Int: pid_t] = [:]
        for record in logLines() {
            switch record.string("event") {
            case "worker_started":
                if let index = record.int("worker"), let pid = record.int("pid") { workers[index] = pid_t(pid) }
            case "worker_exited":
                if let pid = record.int("pid") { workers = workers.filter { $0.value != pid_t(pid) } }
            default:
                break
            }
        }
        return workers
    }

    /// Every pid ever reported in a `worker_started` record.
    func allWorkerPIDsEverStarted() -> Set<pid_t> {
        Set(logLines().filter { $0.string("event") == "worker_started" }.compactMap { $0.int("pid").map(pid_t.init) })
    }

    /// Waits until `count` workers are reported running and are alive, and returns them.
    @discardableResult
    func waitForWorkers(_ count: Int, timeout: Duration = .seconds(15)) throws -> [Int: pid_t] {
        try eventuallyValue(timeout: timeout, "\(count) running workers\nstderr:\n\(stderrTail())") {
            let workers = workerPIDs()
            return workers.count == count && workers.values.allSatisfy(Subprocess.isAlive) ? workers : nil
        }
    }

    // MARK: Stopping

    /// Sends `signal` to the supervisor.
    func send(_ signal: Int32) {
        if exitStatus == nil { kill(pid, signal) }
    }

    /// SIGTERM, then waits up to `timeout` for the supervisor to exit. If it does not, records an issue and
    /// SIGKILLs its process group. Idempotent: later calls return the first result.
    @discardableResult
    func stop(timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation) -> ExitStatus {
        if let exitStatus { return exitStatus }
        kill(pid, SIGTERM)
        if let status = Subprocess.waitForExit(pid, timeout: timeout) {
            exitStatus = status
            return status
        }
        Issue.record(
            "livefeed (pid \(pid)) still running \(timeout) after SIGTERM; killing it.\nstderr:\n\(stderrTail())",
            sourceLocation: sourceLocation)
        killpg(pid, SIGKILL)
        kill(pid, SIGKILL)
        let status = Subprocess.waitForExit(pid, timeout: .seconds(10)) ?? .signaled(SIGKILL)
        exitStatus = status
        return status
    }

    /// Stops the server if needed and checks how it ended: exit status 0, no error-level record other than
    /// expected ones, only JSON on stderr, no worker outliving it. Then kills leftovers and removes the directory.
    func tearDown(sourceLocation: SourceLocation = #_sourceLocation) {
        guard !tornDown else { return }
        tornDown = true
        let status = stop(sourceLocation: sourceLocation)
        if ProcessInfo.processInfo.environment["LIVEFEED_PRINT_LOGS"] == "1" {
            print("---- livefeed stderr (\(directory)) ----\n\(stderrText())---- end ----")
        }
        #expect(
            status == .exited(0), "livefeed ended with \(status), not exit status 0.\nstderr:\n\(stderrTail())",
            sourceLocation: sourceLocation)

        let unexpectedErrors = errorRecords().filter { !isExpectedErrorRecord($0) }
        if !unexpectedErrors.isEmpty {
            Issue.record(
                "livefeed logged error-level records:\n\(unexpectedErrors.map(\.jsonText).joined(separator: "\n"))",
                sourceLocation: sourceLocation)
        }
        let garbage = nonJSONStderrLines()
        if !garbage.isEmpty {
            Issue.record(
                "livefeed stderr lines that are not JSON records:\n\(garbage.prefix(20).joined(separator: "\n"))",
                sourceLocation: sourceLocation)
        }

        // A worker must exit once its supervisor is gone (it reads EOF on its pipe). Only a clean exit promises
        // that; after a forced kill, leftovers are just cleaned up.
        let workers = allWorkerPIDsEverStarted().filter(isLivefeedProcess)
        if status == .exited(0) {
            let deadline = ContinuousClock.now + .seconds(5)
            while workers.contains(where: Subprocess.isAlive) && ContinuousClock.now < deadline { usleep(20_000) }
            let survivors = workers.filter(Subprocess.isAlive)
            if !survivors.isEmpty {
                Issue.record(
                    "workers \(survivors.sorted()) still alive 5 s after the supervisor exited",
                    sourceLocation: sourceLocation)
            }
        }
        abandon(killing: workers)
    }

    /// Kills whatever is left of the server and removes its directory (unless LIVEFEED_KEEP_TMP=1).
    private func abandon(killing workers: Set<pid_t> = []) {
        if exitStatus == nil {
            killpg(pid, SIGKILL)
            kill(pid, SIGKILL)
            exitStatus = Subprocess.waitForExit(pid, timeout: .seconds(10))
        }
        killpg(pid, SIGKILL)  // Orphans still in the group; ESRCH if there are none.
        for worker in workers.union(allWorkerPIDsEverStarted()) where Subprocess.isAlive(worker) {
            if isLivefeedProcess(worker) { kill(worker, SIGKILL) }
        }
        if ProcessInfo.processInfo.environment["LIVEFEED_KEEP_TMP"] == "1" {
            print("livefeed test directory kept: \(directory)")
        } else {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Guards against signalling a recycled pid: the process must look like livefeed.
    private func isLivefeedProcess(_ pid: pid_t) -> Bool {
        Subprocess.commandLine(pid).lowercased().contains("livefeed")
    }
}

/// Starts a server, runs `body` with it, and tears it down (checking a clean exit) whatever `body` does.
@discardableResult
func withLivefeed<Result>(
    workers: Int = 2, arguments: [String] = [], environment: [String: String] = [:], untilReady: Bool = true,
    prepare: (String) throws -> [String] = { _ in [] }, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (ServerProcess) throws -> Result
) throws -> Result {
    let server = try ServerProcess.start(
        workers: workers, arguments: arguments, environment: environment, untilReady: untilReady, prepare: prepare)
    defer { server.tearDown(sourceLocation: sourceLocation) }
    do {
        return try body(server)
    } catch let error as ExpectationFailedError {
        throw error  // Already recorded, with its own message, by #require.
    } catch {
        // The directory is gone after teardown, so the server's side of the story travels with the error.
        throw FailureWithServerLog(underlying: error, stderrTail: server.stderrTail(lines: 30))
    }
}

/// An error thrown by a test body, with the last lines the server logged when it happened.
struct FailureWithServerLog: Error, CustomStringConvertible {
    var underlying: any Error
    var stderrTail: String
    var description: String { "\(underlying)\nlivefeed stderr (last lines):\n\(stderrTail)" }
}
