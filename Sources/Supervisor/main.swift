import Foundation
import Glibc
import LivefeedProtocol

// livefeed: the supervisor. Binds (or, later, takes a systemd socket), prepares the database, starts the
// worker pool and serves until SIGTERM/SIGINT.


// `livefeed import FILE.jsonl [--db PATH]`: the worker binary does SQLite work; run it in our place.
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "import" {
    var rest = Array(CommandLine.arguments.dropFirst(2))
    var db = ""
    if let i = rest.firstIndex(of: "--db"), i + 1 < rest.count {
        db = rest[i + 1]
        rest.removeSubrange(i...(i + 1))
    }
    guard rest.count == 1 else {
        FileHandle.standardError.write(Data("usage: livefeed import [--db PATH] FILE.jsonl (- for standard input)\n".utf8))
        exit(2)
    }
    let base = try? SupervisorConfig.parse(db.isEmpty ? [] : ["--db", db], environment: ProcessInfo.processInfo.environment)
    guard let base else { exit(2) }
    let argv = [base.workerPath, "import", "--db", base.databasePath, rest[0]]
    let cArgs = argv.map { strdup($0) } + [nil]
    execv(base.workerPath, cArgs)
    FileHandle.standardError.write(Data("livefeed: cannot run \(base.workerPath): \(String(cString: strerror(errno)))\n".utf8))
    exit(1)
}

// Before anything can start a thread: every thread must inherit these blocked, so they reach the signalfd.
SignalSetup.block([SIGTERM, SIGINT, SIGHUP, SIGCHLD])
SignalSetup.ignoreSIGPIPE()
let journal = Journal()

let config: SupervisorConfig
do {
    config = try SupervisorConfig.parse(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
} catch .help {
    print(SupervisorConfig.usage)
    exit(0)
} catch {
    FileHandle.standardError.write(Data("livefeed: \(error)\n\(SupervisorConfig.usage)\n".utf8))
    exit(2)
}

// Workers inherit the raised limit; each holds its share of the connections.
let descriptorLimit = ResourceLimits.raiseDescriptorLimit()
let descriptorsForClients = UInt64(config.workers) * (descriptorLimit - min(descriptorLimit, 64))
if descriptorLimit > 0, UInt64(config.caps.global) > descriptorsForClients {
    journal.emit(.warning, "caps_exceed_descriptor_limit", [
        "max_connections": .int(Int64(config.caps.global)), "workers": .int(Int64(config.workers)),
        "nofile": .int(Int64(descriptorLimit)),
    ])
}

guard access(config.workerPath, X_OK) == 0 else {
    journal.emit(.error, "worker_binary_missing", ["path": .string(config.workerPath)])
    exit(1)
}

// The schema is created (and demo data seeded) by a short-lived worker before anything serves, so the
// supervisor itself never touches SQLite and never blocks on it.
let directory = (config.databasePath as NSString).deletingLastPathComponent
if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
do {
    let outcome = try ChildProcess.run(
        path: config.workerPath, arguments: ["prepare-db", "--db", config.databasePath] + (config.demo ? ["--demo"] : []))
    guard outcome == .exited(0) else {
        journal.emit(.error, "prepare_db_failed", ["db": .string(config.databasePath), "status": .string(outcome.description)])
        exit(1)
    }
} catch {
    journal.emit(.error, "prepare_db_failed", ["error": .string("\(error)")])
    exit(1)
}

do {
    let listener = try Listener.bind(config.listen)
    let supervisor = try Supervisor(config: config, listener: listener, journal: journal)
    exit(try supervisor.run())
} catch {
    journal.emit(.error, "startup_failed", ["error": .string("\(error)"), "listen": .string(config.listen.description)])
    exit(1)
}
