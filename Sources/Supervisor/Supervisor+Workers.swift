import Glibc
import LivefeedProtocol

/// Worker processes: start, reap, restart with backoff, notice crash loops and silent workers, drain.
extension Supervisor {
    func workerFields(_ slot: WorkerSlot) -> [String: RecordValue] {
        ["worker": .int(Int64(slot.index)), "generation": .int(Int64(slot.generation)), "pid": .int(Int64(slot.pid))]
    }

    func start(_ slot: WorkerSlot) {
        let now = clock.nowMilliseconds
        do {
            let (mine, theirs) = try SocketPair.seqpacket()
            if let size = config.controlSendBuffer {
                try? mine.setOption(level: SOL_SOCKET, name: SO_SNDBUF, value: size)
                try? theirs.setOption(level: SOL_SOCKET, name: SO_SNDBUF, value: size)
            }
            var args = ["serve", "--db", config.databasePath, "--index", String(slot.index)]
            if config.enableEcho { args.append("--enable-echo") }
            args += config.workerOptions
            let pid: pid_t
            let (stderrReader, stderrWriter) = try ChildProcess.pipe()
            do {
                pid = try ChildProcess.spawn(
                    path: config.workerPath, arguments: args, control: theirs,
                    extraEnvironment: config.accessToken.map { ["LIVEFEED_ACCESS_TOKEN=\($0)"] } ?? [],
                    withoutEnvironment: Notifier.inheritedVariables, stderr: stderrWriter)
            } catch {
                mine.close()
                theirs.close()
                stderrReader.close()
                stderrWriter.close()
                throw error
            }
            theirs.close()
            stderrWriter.close()
            watchStderr(of: slot, stderrReader)
            slot.pid = pid
            slot.control = mine
            slot.controlWritable = false
            slot.state = .starting
            slot.startedAt = now
            slot.lastHeardAt = now
            slot.killSent = false
            slot.drainCommand = nil
            slot.drainDeadline = 0
            slot.gauges = nil
            slot.recordsDroppedCounted = 0
            try epoll.add(mine, events: [.readable], token: slot.token.rawValue)
            journal.emit(.info, .workerStarted, workerFields(slot))
        } catch {
            nextWorkerCheck = 0
            slot.consecutiveFailures += 1
            slot.nextStartAt = now + WorkerTable.backoffMilliseconds(failures: slot.consecutiveFailures)
            journal.emit(
                .error, .workerStartFailed,
                [
                    "worker": .int(Int64(slot.index)), "generation": .int(Int64(slot.generation)),
                    "error": .string("\(error)"), "path": .string(config.workerPath),
                ])
            noteCrashLoop(slot)
        }
    }

    /// Starts workers whose backoff has passed; kills workers that went silent or outlived their drain; clears
    /// the crash-loop mark of workers that stayed up. Sets when it needs to run again.
    func superviseWorkers(now: UInt64) {
        var next = now + 250
        defer { nextWorkerCheck = next }
        creditOwnStall(now: now)
        next = min(next, superviseHelpers(now: now))
        for slot in workers.all {
            guard slot.hasProcess else {
                if slot.want == .up && !stopping && !waitsForReload(slot) {
                    if now >= slot.nextStartAt { start(slot) } else { next = min(next, slot.nextStartAt) }
                }
                continue
            }
            if slot.state == .stopping && slot.drainDeadline > now { next = min(next, slot.drainDeadline) }
            if isSilent(slot, now: now) {
                metrics.workerTimeouts[slot.index, default: 0] += 1
                var fields = workerFields(slot)
                fields["silent_ms"] = .int(Int64(now - slot.lastHeardAt))
                fields["state"] = .string(slot.state.rawValue)
                journal.emit(.error, .workerUnresponsive, fields)
                recentWorkerEvents.add(time: Timestamp.now(), "worker \(slot.index) unresponsive", "pid \(slot.pid)")
                forceKill(slot)
            } else if !slot.killSent && slot.state == .stopping && slot.drainDeadline != 0 && now >= slot.drainDeadline
            {
                metrics.drainKills += 1
                var fields = workerFields(slot)
                fields["connections"] = .int(Int64(slot.connections.count))
                journal.emit(.warning, .workerDrainTimeout, fields)
                forceKill(slot)
            }
            if slot.state == .stopping { sendDrainIfPending(slot) }
            if slot.state == .running && slot.consecutiveFailures > 0
                && now - slot.startedAt >= WorkerTable.stableAfterMilliseconds
            {
                slot.consecutiveFailures = 0
                if slot.crashLooping {
                    slot.crashLooping = false
                    journal.emit(.info, .workerRecovered, workerFields(slot))
                    recentWorkerEvents.add(time: Timestamp.now(), "worker \(slot.index) recovered", "pid \(slot.pid)")
                }
            }
        }
    }

    /// SIGKILL; the exit is handled when SIGCHLD arrives. The control socket leaves the epoll set now, so
    /// nothing more is read from a worker already judged.
    func forceKill(_ slot: WorkerSlot) {
        guard slot.hasProcess, slot.pid > 0, !slot.killSent else { return }
        slot.killSent = true
        if let c = slot.control { epoll.remove(c) }
        kill(slot.pid, SIGKILL)
        redistributeHandoffs(of: slot)
    }

    /// Tells a worker to drain and exit; it gets SIGKILL at its drain deadline. A slot without a process (in
    /// restart backoff) simply stays down.
    /// During a reload, an old-generation worker that died is not restarted only to be retired moments later,
    /// while another old worker still serves: the reload retires it, or (if the reload fails) it starts then.
    private func waitsForReload(_ slot: WorkerSlot) -> Bool {
        guard reload != nil, workers.current.contains(where: { $0 === slot }) else { return false }
        return workers.current.contains { $0 !== slot && $0.state == .running }
    }

    func retire(_ slot: WorkerSlot, retryAfterMilliseconds: Int64, now: UInt64, handover: Bool = false) {
        slot.want = .down
        nextWorkerCheck = 0
        switch slot.state {
        case .running, .starting:
            slot.state = .stopping
            // A handover first tries to move live connections, then closes the rest as usual: that takes longer.
            slot.drainDeadline = now + config.drainMilliseconds + (handover ? UInt64(Record.handoverGraceMilliseconds) : 0)
            slot.drainCommand = .drain(
                spreadMilliseconds: config.closeSpreadMilliseconds, retryAfterMilliseconds: retryAfterMilliseconds,
                handover: handover)
            workers.refreshReady()
            redistributeHandoffs(of: slot)
            sendDrainIfPending(slot)
        case .stopping:
            break
        case .stopped:
            workers.forget(slot)
        }
        workers.refreshReady()
    }

    func reapChildren() {
        for (pid, exit) in ChildProcess.reapAll() {
            if helperExited(pid: pid, exit) { continue }
            guard let slot = workers.slot(pid: pid) else { continue }
            workerExited(slot, exit)
        }
    }

    private func workerExited(_ slot: WorkerSlot, _ exit: ChildProcess.Exit) {
        let now = clock.nowMilliseconds
        let expected = slot.want == .down
        // What the worker sent before it exited may still wait in its socket and pipe: its last records (the
        // connection_closed of its final clients) and what it said on stderr are read before they are closed.
        if slot.control != nil && !slot.killSent {
            for _ in 0..<64 where slot.control != nil && readRecords(from: slot, []) {}
        }
        let said = closeStderr(of: slot)
        if let c = slot.control {
            epoll.remove(c)
            c.close()
            slot.control = nil
            slot.controlWritable = false
        }
        // A dead worker's connections died with it: free their slots exactly once, here.
        let lost = slot.connections
        for id in lost { release(id, reason: "worker_exit") }
        slot.forgetConnections()
        slot.state = .stopped
        slot.lastExit = exit
        slot.gauges = nil
        workers.refreshReady()
        redistributeHandoffs(of: slot)
        let uptime = now - slot.startedAt
        var fields = workerFields(slot)
        fields["status"] = .string(exit.description)
        fields["reason"] = .string(exit.reason)
        if !said.isEmpty { fields["stderr"] = .string(said) }
        fields["uptime_ms"] = .int(Int64(uptime))
        fields["connections_lost"] = .int(Int64(lost.count))
        switch exit {
        case .exited(let code): fields["exit_code"] = .int(Int64(code))
        case .signaled(let signal): fields["signal"] = .int(Int64(signal))
        }
        if expected {
            journal.emit(.info, .workerExited, fields)
            workers.forget(slot)
            return
        }
        metrics.workerRestarts[slot.index, default: 0] += 1
        slot.consecutiveFailures = uptime >= WorkerTable.stableAfterMilliseconds ? 1 : slot.consecutiveFailures + 1
        let delay = WorkerTable.backoffMilliseconds(failures: slot.consecutiveFailures)
        slot.nextStartAt = now + delay
        fields["restart_in_ms"] = .int(Int64(delay))
        fields["failures_in_a_row"] = .int(Int64(slot.consecutiveFailures))
        // A worker that could not even run (a missing library) is an error an operator must act on.
        journal.emit(exit.reason == "exec_failed" ? .error : .warning, .workerExited, fields)
        recentWorkerEvents.add(
            time: Timestamp.now(), "worker \(slot.index) exited", "\(exit.description), lost \(lost.count) connections")
        noteCrashLoop(slot)
    }

    /// Marks (and reports, once) a worker that keeps failing quickly.
    private func noteCrashLoop(_ slot: WorkerSlot) {
        guard !slot.crashLooping, slot.consecutiveFailures >= WorkerTable.crashLoopFailures else { return }
        slot.crashLooping = true
        var fields = workerFields(slot)
        fields["failures_in_a_row"] = .int(Int64(slot.consecutiveFailures))
        fields["last_exit"] = .string(slot.lastExit?.description ?? "start failed")
        fields["restart_in_ms"] = .int(
            Int64(slot.nextStartAt > clock.nowMilliseconds ? slot.nextStartAt - clock.nowMilliseconds : 0))
        journal.emit(.error, .workerCrashLoop, fields)
        openDoor()
        recentWorkerEvents.add(
            time: Timestamp.now(), "worker \(slot.index) crash loop",
            "\(slot.consecutiveFailures) quick failures in a row; last: \(slot.lastExit?.description ?? "start failed")"
        )
    }

    /// Sends the drain command if it has not gone out yet; a full socket (handoffs queued) is retried on the
    /// next tick.
    func sendDrainIfPending(_ slot: WorkerSlot) {
        guard let command = slot.drainCommand, let control = slot.control else { return }
        do {
            if case .done = try FDPassing.send(on: control, RecordCodec.encode(command), descriptor: nil) {
                slot.drainCommand = nil
            }
        } catch {
            slot.drainCommand = nil
            var fields = workerFields(slot)
            fields["error"] = .string("\(error)")
            journal.emit(.warning, .workerCommandFailed, fields)
        }
    }

    /// Workers currently crash-looping, by index (any generation that is meant to serve).
    var crashLoopingWorkers: [WorkerSlot] { (workers.current + workers.incoming).filter(\.crashLooping) }
}
