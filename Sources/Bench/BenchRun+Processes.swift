import Glibc
import LivefeedProtocol

/// Which processes are the server (the supervisor, its workers and checkpointer from the server's log; a foreign
/// server and its descendants), and their readings at one moment.
extension BenchRun {
    var processNames: [String] {
        if options.foreign { return windowEnd.processes.map(\.name) }
        return ["supervisor"] + (server?.log.workerPIDs.keys.sorted() ?? []).map { "worker \($0)" }
            + (server?.log.checkpointerPID == nil ? [] : ["checkpointer"])
    }

    /// The processes whose CPU and memory count as the server's, by name.
    func serverProcesses() -> [(name: String, pid: pid_t)] {
        if options.foreign {
            return [("server", options.serverPID)]
                + Self.descendants(of: options.serverPID).map { ("child \($0)", $0) }
        }
        guard let server else { return [] }
        return [("supervisor", server.pid)]
            + server.log.workerPIDs.sorted(by: { $0.key < $1.key }).map { ("worker \($0.key)", $0.value) }
            + (server.log.checkpointerPID.map { [("checkpointer", $0)] } ?? [])
    }

    /// Every descendant of `pid`, from /proc/PID/task/TID/children.
    static func descendants(of pid: pid_t) -> [pid_t] {
        var found: [pid_t] = []
        var queue = [pid]
        while let p = queue.popLast(), found.count < 1000 {
            var tasks: [pid_t] = [p]
            if let dir = opendir("/proc/\(p)/task") {
                tasks = []
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    if let t = pid_t(name) { tasks.append(t) }
                }
                closedir(dir)
            }
            for t in tasks {
                let children = ProcFile.read("/proc/\(p)/task/\(t)/children") ?? ""
                for c in children.split(separator: " ").compactMap({ pid_t($0) }) where !found.contains(c) {
                    found.append(c)
                    queue.append(c)
                }
            }
        }
        return found.sorted()
    }

    func snapshot() -> Snapshot {
        server?.log.poll()
        var s = Snapshot(at: clock.nowNanoseconds)
        for (name, pid) in serverProcesses() { s.processes.append((name, ProcessSample.read(pid: pid))) }
        s.tcpKiB = SocketMemory.tcpKiB()
        s.host = HostCPU.seconds()
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        s.benchCPUSeconds =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        // Client shards are the bench too.
        for shard in shards { s.benchCPUSeconds += ProcessSample.read(pid: shard.pid)?.cpuSeconds ?? 0 }
        return s
    }
}
