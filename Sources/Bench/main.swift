import Foundation
import Glibc
import LivefeedProtocol

// livefeed-bench: starts a livefeed server, subscribes K WebSocket clients to one channel, ingests R messages
// per second for T seconds, and reports delivery rate, latency, correctness and the server's CPU and memory.

SignalSetup.ignoreSIGPIPE()
var options: BenchOptions
do {
    options = try BenchOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch .help {
    print(BenchOptions.usage)
    exit(0)
} catch {
    FileHandle.standardError.write(Data("livefeed-bench: \(error)\n".utf8))
    exit(2)
}

// Every subscriber needs a descriptor, and the server (which inherits this limit) one more per connection. The
// hard limit is as far as an unprivileged process may go; a privileged one (CAP_SYS_RESOURCE) raises it too.
var limit = rlimit()
getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
let wanted = rlim_t(options.subscribers + 4096)
if limit.rlim_max < wanted {
    var raised = rlimit(rlim_cur: wanted, rlim_max: wanted)
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
}
limit.rlim_cur = limit.rlim_max
setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
// What one process can hold; a run with more subscribers starts client shards for the rest.
if options.perProcess == 0 { options.perProcess = max(1, Int(limit.rlim_cur) - 256) }
let heldHere = options.subscribersHeldHere
if heldHere + 64 > Int(limit.rlim_cur) {
    let message =
        "\(heldHere) subscribers in one process need more than the \(limit.rlim_cur) open files allowed"
        + " (lower --per-process, or raise the hard limit, e.g. prlimit --nofile=\(wanted))"
    FileHandle.standardError.write(Data("livefeed-bench: \(message)\n".utf8))
    exit(2)
}

let run: BenchRun
do {
    run = try BenchRun(options: options)
} catch {
    FileHandle.standardError.write(Data("livefeed-bench: \(error)\n".utf8))
    exit(3)
}
var failure: BenchError?
if let target = options.shardOf {
    // A client shard: its parent prints everything; it only says what went wrong.
    do {
        try run.executeShard(target)
    } catch {
        FileHandle.standardError.write(Data("livefeed-bench shard \(target.firstIndex): \(error)\n".utf8))
    }
    run.finish()
    exit(0)
}
do {
    try run.execute()
} catch {
    failure = error
}
run.finish()
if let failure {
    FileHandle.standardError.write(Data("livefeed-bench: \(failure)\n".utf8))
    if let log = run.server?.log {
        for line in log.notable { FileHandle.standardError.write(Data("  server: \(line)\n".utf8)) }
    }
    if options.keepFiles { FileHandle.standardError.write(Data("  files kept in \(run.directory)\n".utf8)) }
    exit(3)
}
let passed = run.report()
if options.keepFiles { print("files kept in \(run.directory)") }
exit(passed ? 0 : 1)
