import Glibc
import LivefeedProtocol

// livefeed-worker: started by the supervisor, never by hand.
//   livefeed-worker serve --db PATH --index N [--control-fd 3] [options]   serve handed-over connections
//   livefeed-worker prepare-db --db PATH [--demo]                          create/upgrade the schema, seed demo data
//   livefeed-worker demo-writer --db PATH [--interval-ms 500]              insert demo messages until fd 3 closes
//   livefeed-worker checkpointer --db PATH                                 copy the WAL back until fd 3 closes
//   livefeed-worker import --db PATH [--create] FILE.jsonl|-                load messages (livefeed import runs this)

SignalSetup.ignoreSIGPIPE()

func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandleOutput.stderr("livefeed-worker: \(message)\n")
    exit(code)
}

enum FileHandleOutput {
    static func stderr(_ s: String) {
        var bytes = Array(s.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

let arguments = CommandLine.arguments.dropFirst()
guard let mode = arguments.first else { fail("usage: livefeed-worker serve|prepare-db|demo-writer|checkpointer --db PATH …", code: 2) }

func value(of flag: String) -> String? {
    guard let i = arguments.firstIndex(of: flag), arguments.index(after: i) < arguments.endIndex else { return nil }
    return arguments[arguments.index(after: i)]
}

switch mode {
case "serve":
    do {
        let config = try WorkerConfig.parse(arguments.dropFirst())
        try Worker(config: config).run()
        exit(0)
    } catch {
        fail("\(error)")
    }
case "prepare-db":
    guard let path = value(of: "--db") else { fail("--db is required", code: 2) }
    do {
        // A follower's replica is written by Litestream alone: only check that it is a livefeed database this
        // build can read (the first start of a follower waits for `litestream restore`).
        if arguments.contains("--follower") {
            if let replica = value(of: "--replica-url") {
                try LitestreamReplica.load(value(of: "--litestream-vfs"))
                let uri = LitestreamReplica.uri(replicaURL: replica, pollMilliseconds: 1000)
                do {
                    try Schema.checkReplica(try SQLiteDatabase(path: uri, readOnly: true, uri: true))
                } catch {
                    fail("the replica at \(replica) cannot be read (is the primary's litestream replicating there?): \(error)")
                }
                exit(0)
            }
            guard access(path, F_OK) == 0 else {
                fail("no replica at \(path) yet: a follower without --replica-url serves a file another program keeps current (docs/scale-out.md)")
            }
            try Schema.checkReplica(try SQLiteDatabase(path: path, readOnly: true))
            exit(0)
        }
        let db = try SQLiteDatabase(path: path)
        try Schema.prepare(db)
        if arguments.contains("--demo") { try DemoData.seed(try MessageStore(path: path)) }
        exit(0)
    } catch {
        fail("\(error)")
    }
case "demo-writer":
    guard let path = value(of: "--db") else { fail("--db is required", code: 2) }
    let interval = Int32(value(of: "--interval-ms") ?? "500") ?? 500
    do {
        try DemoData.runWriter(
            store: try MessageStore(path: path), control: FileDescriptor(owning: 3), intervalMilliseconds: max(10, interval))
        exit(0)
    } catch {
        fail("\(error)")
    }
case "checkpointer":
    guard let path = value(of: "--db") else { fail("--db is required", code: 2) }
    // Like a worker, it leaves HUP, USR1 and USR2 to the supervisor (`systemctl kill` signals every process).
    for s in [SIGHUP, SIGUSR1, SIGUSR2] { signal(s, SIG_IGN) }
    WALCheckpointer.run(path: path, control: FileDescriptor(owning: 3))
    exit(0)
case "import":
    Importer.command(Array(arguments.dropFirst()))
default:
    fail("unknown mode \(mode)", code: 2)
}
