import Glibc
import LivefeedProtocol

/// Worker processes: start, read their records, reap, restart with backoff.
extension Supervisor {
    func start(_ slot: WorkerSlot) {
        let now = clock.nowMilliseconds
        do {
            let (mine, theirs) = try SocketPair.seqpacket()
            var args = ["serve", "--db", config.databasePath, "--index", String(slot.index)]
            if config.enableEcho { args.append("--enable-echo") }
            args += config.workerOptions
            let pid: pid_t
            do {
                pid = try ChildProcess.spawn(
                    path: config.workerPath, arguments: args, control: theirs,
                    extraEnvironment: config.accessToken.map { ["LIVEFEED_ACCESS_TOKEN=\($0)"] } ?? [])
            } catch {
                mine.close()
                theirs.close()
                throw error
            }
            theirs.close()
            slot.pid = pid
            slot.control = mine
            slot.state = .starting
            slot.startedAt = now
            try epoll.add(mine, events: [.readable], token: Token.workerBase + UInt64(slot.index))
            journal.emit(.info, "worker_started", ["worker": .int(Int64(slot.index)), "pid": .int(Int64(pid))])
        } catch {
            slot.consecutiveFailures += 1
            slot.nextStartAt = now + WorkerTable.backoffMilliseconds(failures: slot.consecutiveFailures)
            journal.emit(.error, "worker_start_failed", [
                "worker": .int(Int64(slot.index)), "error": .string("\(error)"), "path": .string(config.workerPath),
            ])
        }
    }

    func startDemoWriter() {
        do {
            let (mine, theirs) = try SocketPair.seqpacket()
            defer { theirs.close() }
            demoWriterPID = try ChildProcess.spawn(
                path: config.workerPath,
                arguments: ["demo-writer", "--db", config.databasePath, "--interval-ms", String(config.demoIntervalMilliseconds)],
                control: theirs)
            demoWriterControl = mine
            journal.emit(.info, "demo_writer_started", ["pid": .int(Int64(demoWriterPID))])
        } catch {
            journal.emit(.error, "demo_writer_failed", ["error": .string("\(error)")])
        }
    }

    /// Starts workers whose backoff has passed.
    func superviseWorkers(now: UInt64) {
        for slot in workers.slots where slot.state == .stopped && slot.want == .up && !stopping {
            if now >= slot.nextStartAt { start(slot) }
        }
    }

    func reapChildren() {
        for (pid, exit) in ChildProcess.reapAll() {
            if pid == demoWriterPID {
                demoWriterPID = 0
                if !stopping {
                    journal.emit(.warning, "demo_writer_exited", ["status": .string(exit.description)])
                }
                continue
            }
            guard let slot = workers.slot(pid: pid) else { continue }
            workerExited(slot, exit)
        }
    }

    private func workerExited(_ slot: WorkerSlot, _ exit: ChildProcess.Exit) {
        let now = clock.nowMilliseconds
        let expected = slot.want == .down
        if let c = slot.control {
            epoll.remove(c)
            c.close()
            slot.control = nil
        }
        // A dead worker's connections died with it: free their slots exactly once, here.
        let lost = slot.connections
        for id in lost { release(id, reason: "worker_exit") }
        slot.connections = []
        slot.state = .stopped
        slot.lastExit = exit
        let uptime = now - slot.startedAt
        var fields: [String: RecordValue] = [
            "worker": .int(Int64(slot.index)), "pid": .int(Int64(slot.pid)), "status": .string(exit.description),
            "uptime_ms": .int(Int64(uptime)), "connections_lost": .int(Int64(lost.count)),
        ]
        if expected {
            journal.emit(.info, "worker_exited", fields)
            return
        }
        slot.restarts += 1
        metrics.workerRestarts += 1
        slot.consecutiveFailures = uptime >= 10_000 ? 1 : slot.consecutiveFailures + 1
        let delay = WorkerTable.backoffMilliseconds(failures: slot.consecutiveFailures)
        slot.nextStartAt = now + delay
        fields["restart_in_ms"] = .int(Int64(delay))
        journal.emit(slot.consecutiveFailures >= 5 ? .error : .warning, "worker_exited", fields)
    }

    func send(_ record: Record, to slot: WorkerSlot) {
        guard let control = slot.control else { return }
        do {
            if case .wouldBlock = try FDPassing.send(on: control, RecordCodec.encode(record), descriptor: nil) {
                journal.emit(.warning, "worker_command_dropped", ["worker": .int(Int64(slot.index))])
            }
        } catch {
            journal.emit(.warning, "worker_command_failed", ["worker": .int(Int64(slot.index)), "error": .string("\(error)")])
        }
    }

    /// Reads every waiting record from a worker. Anything malformed gets the worker killed, never us.
    func readRecords(from slot: WorkerSlot, _ events: Epoll.Events) {
        guard let control = slot.control else { return }
        for _ in 0..<256 {
            let outcome: IOResult<FDPassing.Received>
            do {
                outcome = try recordBuffer.withUnsafeMutableBytes { raw throws(SystemError) in
                    try FDPassing.receive(on: control, into: raw)
                }
            } catch {
                workerMisbehaved(slot, "control socket error: \(error)")
                return
            }
            guard case .done(let r) = outcome else { return }
            if r.byteCount == 0 && r.descriptor == nil {
                // End of file: the worker is exiting; SIGCHLD finishes the bookkeeping.
                epoll.remove(control)
                return
            }
            if let fd = r.descriptor {
                fd.close()
                workerMisbehaved(slot, "worker sent a descriptor")
                return
            }
            if r.anomaly {
                workerMisbehaved(slot, "truncated or foreign control message")
                return
            }
            do {
                handle(try RecordCodec.decode(recordBuffer[0..<r.byteCount]), from: slot)
            } catch {
                workerMisbehaved(slot, "bad record: \(error)")
                return
            }
        }
    }

    private func workerMisbehaved(_ slot: WorkerSlot, _ why: String) {
        journal.emit(.error, "worker_protocol_violation", [
            "worker": .int(Int64(slot.index)), "pid": .int(Int64(slot.pid)), "error": .string(why),
        ])
        if let c = slot.control { epoll.remove(c) }
        if slot.pid > 0 { kill(slot.pid, SIGKILL) }
    }

    private func handle(_ record: Record, from slot: WorkerSlot) {
        let workerFields: [String: RecordValue] = ["worker": .int(Int64(slot.index)), "worker_pid": .int(Int64(slot.pid))]
        switch record {
        case .workerReady:
            if slot.state == .starting { slot.state = .running }
            journal.emit(.info, "worker_ready", workerFields)
            if !announcedReady && workers.runningCount == workers.slots.count {
                announcedReady = true
                journal.emit(.info, "ready", [
                    "address": .string(address.description), "workers": .int(Int64(workers.slots.count)),
                    "db": .string(config.databasePath),
                ])
                Notify.send("READY=1\nSTATUS=serving on \(address) with \(workers.slots.count) workers")
            }
        case .connectionOpened(let id, let view):
            metrics.liveOpened[view, default: 0] += 1
            var fields = workerFields
            fields["conn"] = .int(Int64(bitPattern: id))
            fields["view"] = .string(view.rawValue)
            fields["client"] = .string(handed[id]?.client ?? "")
            journal.emit(.info, "connection_opened", fields)
        case .connectionClosed(let id, let view, let extra):
            var fields = workerFields.merging(extra) { a, _ in a }
            fields["conn"] = .int(Int64(bitPattern: id))
            fields["view"] = .string(view.rawValue)
            if let reason = extra["reason"]?.stringValue { metrics.closed[reason, default: 0] += 1 }
            if let dropped = extra["dropped"]?.intValue { metrics.framesDropped += dropped }
            guard handed[id] != nil else { return }  // already released (e.g. reported twice): count once
            release(id, reason: nil)
            journal.emit(extra["live_view"] != nil ? .info : .debug, "connection_closed", fields)
        case .log(let level, let event, let extra):
            journal.emit(level, event, workerFields.merging(extra) { a, _ in a })
        case .handoff, .drain:
            workerMisbehaved(slot, "worker sent a supervisor command")
        }
    }

    /// Frees a connection's slot. Called once per connection: on its close record or its worker's death.
    func release(_ id: UInt64, reason: String?) {
        guard let h = handed.removeValue(forKey: id) else { return }
        if h.worker < workers.slots.count { workers.slots[h.worker].connections.remove(id) }
        if let reason { metrics.closed[reason, default: 0] += 1 }
    }
}
