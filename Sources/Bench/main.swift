import Foundation
import Glibc
import LivefeedProtocol

// livefeed-bench: starts a livefeed server, subscribes K WebSocket clients to one channel, ingests R messages
// per second for T seconds, and reports delivery rate, latency, correctness and the server's CPU and memory.

SignalSetup.ignoreSIGPIPE()
let options: BenchOptions
do {
    options = try BenchOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch .help {
    print(BenchOptions.usage)
    exit(0)
} catch {
    FileHandle.standardError.write(Data("livefeed-bench: \(error)\n".utf8))
    exit(2)
}

// Every subscriber needs a descriptor; the hard limit is as far as an unprivileged process may go.
var limit = rlimit()
getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
limit.rlim_cur = limit.rlim_max
setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
if options.subscribers + 64 > Int(limit.rlim_cur) {
    let message = "\(options.subscribers) subscribers need more than the \(limit.rlim_cur) open files allowed"
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
