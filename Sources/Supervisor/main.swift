import Foundation
import Glibc
import LivefeedProtocol

// livefeed: the supervisor. Takes the sockets systemd passed (or binds --listen), prepares the database, starts
// the worker pool and serves until SIGTERM/SIGINT.


// `livefeed import …`: the worker binary does SQLite work; run it in our place.
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "import" {
    ImportCommand.run(Array(CommandLine.arguments.dropFirst(2)), environment: ProcessInfo.processInfo.environment)
}

/// `livefeed reload PID` / `livefeed upgrade PID`: sends `signal` to the supervisor `PID` and exits.
func signalSupervisor(_ command: String, _ signal: Int32) -> Never {
    guard CommandLine.arguments.count == 3, let pid = pid_t(CommandLine.arguments[2]), pid > 0 else {
        FileHandle.standardError.write(Data("usage: livefeed \(command) PID (the supervisor's, $MAINPID in a unit)\n".utf8))
        exit(2)
    }
    refuseHelperPID(pid, command)
    guard kill(pid, signal) == 0 else {
        FileHandle.standardError.write(Data("livefeed: cannot signal \(pid): \(String(cString: strerror(errno)))\n".utf8))
        exit(1)
    }
    exit(0)
}

/// `pgrep livefeed` lists the workers and the checkpointer beside the supervisor: given one of theirs, reload and
/// upgrade did nothing and said 0, and stop replaced only that process. Their names (`/proc/PID/comm`) say what they
/// are; anything else is taken at its word, as kill(1) would.
func refuseHelperPID(_ pid: pid_t, _ command: String) {
    guard let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return }
    let name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
    guard name.hasPrefix("livefeed-") else { return }
    FileHandle.standardError.write(Data(
        "livefeed \(command): \(pid) is a \(name) process, not the supervisor (the unit's $MAINPID)\n".utf8))
    exit(1)
}

// `livefeed reload PID`: the unit's ExecReload= (systemd before 253, Type=notify): SIGHUP to the supervisor,
// without depending on kill(1). The reload itself runs in the supervisor and says RELOADING=1, then READY=1.
// `livefeed upgrade PID`: SIGUSR2, the supervisor re-executes itself (`Supervisor+Upgrade.swift`).
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "reload" { signalSupervisor("reload", SIGHUP) }
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "upgrade" { signalSupervisor("upgrade", SIGUSR2) }
// `livefeed stop [PID]`: the unit's ExecStop=+ (root): a restart keeps the connections, anything else stops
// (`StopCommand.swift`).
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "stop" { StopCommand.run(Array(CommandLine.arguments.dropFirst(2))) }

// As it was given to this process, before anything below removes variables meant for it alone (LISTEN_*,
// WATCHDOG_*): an upgrade re-executes with it.
let environmentAtStart = ProcessInfo.processInfo.environment

// Before anything can start a thread: every thread must inherit these blocked, so they reach the signalfd.
SignalSetup.block([SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR2])
SignalSetup.ignoreSIGPIPE()
// SIGUSR1 means nothing here; its default action ended the supervisor (no drain, no log) when a unit-wide
// `systemctl kill -s USR1` meant it for something else.
signal(SIGUSR1, SIG_IGN)

var config: SupervisorConfig
do {
    config = try SupervisorConfig.parse(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
    config.arguments = Array(CommandLine.arguments.dropFirst())
    config.environment = environmentAtStart
    // The path as invoked, so an upgrade runs whatever binary is installed there now.
    let invoked = CommandLine.arguments[0]
    config.executablePath = invoked.contains("/") ? invoked : (try? FileManager.default.destinationOfSymbolicLink(
        atPath: "/proc/self/exe")) ?? invoked
} catch .help {
    print(SupervisorConfig.usage)
    exit(0)
} catch {
    // One line that says what is wrong; the usage text only when asked (--help). Exit 2: systemd's unit does not
    // restart on it (RestartPreventExitStatus=2), since a restart cannot fix a configuration.
    FileHandle.standardError.write(Data("livefeed: \(error) (livefeed --help lists the options)\n".utf8))
    exit(2)
}

let journal = Journal(target: Journal.target(for: config.logTarget, journalStream: getenv("JOURNAL_STREAM").map { String(cString: $0) }))
let notifier = Notifier()

/// A fatal start-up error: one record, the reason in STATUS= for `systemctl status`, exit status 1.
@MainActor func failStartup(_ event: LogEvent, _ fields: [String: RecordValue], status: String) -> Never {
    journal.emit(.error, event, fields)
    notifier.send([.status("failed: \(status)")])
    exit(1)
}

// Sockets systemd passed are taken first: the variables naming them leave the environment before any child is
// started, and the descriptors become close-on-exec.
let activated: [ListeningSocket]?
var carried = SocketActivation.Carried()
do {
    activated = try SocketActivation.take(carried: &carried)
} catch {
    failStartup(.socketActivationFailed, ["error": .string(error.description)], status: error.description)
}

// Workers inherit the raised limit; each holds its share of the connections.
let descriptorLimit = ResourceLimits.raiseDescriptorLimit()
let descriptorsForClients = UInt64(config.workers) * (descriptorLimit - min(descriptorLimit, 64))
if descriptorLimit > 0, UInt64(config.caps.global) > descriptorsForClients {
    journal.emit(.warning, .capsExceedDescriptorLimit, [
        "max_connections": .int(Int64(config.caps.global)), "workers": .int(Int64(config.workers)),
        "nofile": .int(Int64(descriptorLimit)),
    ])
}

guard access(config.workerPath, X_OK) == 0 else {
    failStartup(.workerBinaryMissing, ["path": .string(config.workerPath)], status: "no worker binary at \(config.workerPath)")
}

// The schema is created (and demo data seeded) by a short-lived worker before anything serves, so the
// supervisor itself never touches SQLite and never blocks on it.
let directory = (config.databasePath as NSString).deletingLastPathComponent
if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
do {
    let (outcome, stderr) = try ChildProcess.run(
        path: config.workerPath,
        arguments: ["prepare-db", "--db", config.databasePath] + (config.demo ? ["--demo"] : [])
            + (config.role == .follower ? ["--follower"] : [])
            + (config.replicaURL.map { ["--replica-url", $0, "--litestream-vfs", config.litestreamVFS ?? ""] } ?? []))
    guard outcome == .exited(0) else {
        // What the worker (or the dynamic loader, for exit 127) said is the cause: it goes into the error record.
        let said = stderr.split(separator: "\n").last.map(String.init) ?? ""
        failStartup(
            .prepareDBFailed,
            ["db": .string(config.databasePath), "status": .string(outcome.description), "reason": .string(outcome.reason),
             "error": .string(said)],
            status: "cannot prepare the database \(config.databasePath) (\(outcome))\(said.isEmpty ? "" : ": \(said)")")
    }
} catch {
    failStartup(.prepareDBFailed, ["error": .string("\(error)")], status: "cannot prepare the database: \(error)")
}

do {
    var listeners = activated ?? []
    if activated == nil {
        let http = try Listener.bind(config.listen)
        listeners.append(ListeningSocket(listener: http, role: .http, address: http.localAddress()))
        if let address = config.metricsListen {
            let metrics = try Listener.bind(address)
            listeners.append(ListeningSocket(listener: metrics, role: .metrics, address: metrics.localAddress()))
        }
    }
    let supervisor = try Supervisor(
        config: config, listeners: listeners, socketActivated: activated != nil, journal: journal, notifier: notifier,
        carried: carried)
    exit(try supervisor.run())
} catch {
    failStartup(
        .startupFailed, ["error": .string("\(error)"), "listen": .string(config.listen.description)],
        status: "\(error)")
}
