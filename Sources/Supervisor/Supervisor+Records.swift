import Glibc
import LivefeedProtocol

/// The record pipe, supervisor side: reads every worker's records without ever blocking, and never trusts
/// them. Anything malformed gets that worker killed (and restarted by the usual backoff), never us.
extension Supervisor {
    /// Reads what is waiting, at most 256 messages per wakeup so one chatty worker cannot starve the rest. Returns
    /// true when it stopped at that bound (more may wait).
    @discardableResult
    func readRecords(from slot: WorkerSlot, _ events: Epoll.Events) -> Bool {
        guard let control = slot.control, !slot.killSent else { return false }
        for _ in 0..<256 {
            let outcome: IOResult<FDPassing.Received>
            do {
                outcome = try recordBuffer.withUnsafeMutableBytes { raw throws(SystemError) in
                    try FDPassing.receive(on: control, into: raw)
                }
            } catch {
                // A reset is how a worker that died with records of ours unread ends its socket: that is its exit
                // (SIGCHLD logs it), not a protocol violation.
                if let e = error as? SystemError, e.errno == ECONNRESET || e.errno == EPIPE {
                    epoll.remove(control)
                    return false
                }
                workerMisbehaved(slot, "control socket error: \(error)")
                return false
            }
            guard case .done(let r) = outcome else { return false }
            if r.byteCount == 0 && r.descriptor == nil && !r.anomaly {
                // End of file: the worker is exiting; SIGCHLD finishes the bookkeeping.
                epoll.remove(control)
                return false
            }
            slot.lastHeardAt = clock.nowMilliseconds
            if r.anomaly {
                r.descriptor?.close()
                workerMisbehaved(slot, "oversized, truncated or foreign control message (\(r.byteCount) bytes)")
                return false
            }
            // A worker sends a loop turn's records as one message; a message is decoded whole before any of it
            // counts, so a bad record anywhere in it changes nothing but that worker's fate.
            let records: [Record]
            do {
                records = try RecordCodec.records(in: recordBuffer[0..<r.byteCount])
            } catch {
                r.descriptor?.close()
                workerMisbehaved(slot, "bad record: \(error)")
                return false
            }
            // A descriptor travels only with a live connection moving on a reload, alone in its message.
            if let fd = r.descriptor {
                guard records.count == 1, case .liveMoved(let state) = records[0] else {
                    fd.close()
                    workerMisbehaved(slot, "worker sent a descriptor")
                    return false
                }
                liveMoved(state, descriptor: fd, from: slot)
                if slot.killSent { return false }
                continue
            }
            for record in records {
                handle(record, from: slot)
                if slot.killSent { return false }
            }
        }
        return true
    }

    func workerMisbehaved(_ slot: WorkerSlot, _ why: String) {
        metrics.protocolViolations[slot.index, default: 0] += 1
        var fields = workerFields(slot)
        fields["error"] = .string(why)
        journal.emit(.error, .workerProtocolViolation, fields)
        recentWorkerEvents.add(time: Timestamp.now(), "worker \(slot.index) protocol violation", why)
        forceKill(slot)
    }

    private func handle(_ record: Record, from slot: WorkerSlot) {
        // Room for the usual fields of a record, so adding them never rehashes.
        var fields = [String: RecordValue](minimumCapacity: 16)
        fields["worker"] = .int(Int64(slot.index))
        fields["worker_pid"] = .int(Int64(slot.pid))
        fields["generation"] = .int(Int64(slot.generation))
        switch record {
        case .workerReady:
            guard slot.state == .starting else {
                if slot.state != .stopping { workerMisbehaved(slot, "ready twice") }
                return
            }
            slot.state = .running
            workers.refreshReady()
            journal.emit(.info, .workerReady, fields)
            workerBecameReady(slot)
        case .connectionOpened(let id, let view):
            metrics.liveOpened[view, default: 0] += 1
            fields["conn"] = .int(Int64(bitPattern: id))
            fields["view"] = .string(view.rawValue)
            fields["client"] = .string(handed[id]?.client ?? "")
            journal.emit(.info, .connectionOpened, fields)
        case .connectionClosed(let id, _, let extra):
            // Only the worker that holds a connection may close it; a stray or repeated report frees nothing.
            guard let h = handed[id], h.worker === slot else {
                fields["conn"] = .int(Int64(bitPattern: id))
                journal.emit(.warning, .unknownConnectionClosed, fields)
                return
            }
            fields.merge(extra) { a, _ in a }
            fields["conn"] = .int(Int64(bitPattern: id))
            fields["view"] = .string(h.view.rawValue)
            fields["client"] = .string(h.client)
            let reason = extra["reason"]?.stringValue ?? "closed"
            release(id, reason: reason)
            if let dropped = extra["dropped"]?.intValue, dropped > 0 {
                guard dropped <= WorkerGauges.plausibleMaximum else {
                    workerMisbehaved(slot, "connection_closed with \(dropped) dropped frames")
                    return
                }
                metrics.framesDropped[h.view] = (metrics.framesDropped[h.view] ?? 0).saturatingAdd(dropped)
                let now = clock.nowMilliseconds
                dropsLastMinute.add("frames", dropped, nowMilliseconds: now)
                dropsLastMinute.add("connections", nowMilliseconds: now)
                recentDrops.add(
                    time: Timestamp.now(), "\(dropped) frames dropped",
                    "\(h.client) view \(h.view.rawValue), \(reason)")
            }
            journal.emit(extra["live_view"] != nil ? .info : .debug, .connectionClosed, fields)
        case .log(let level, let event, let extra):
            if event == LogEvent.connectionRefused.rawValue { countWorkerRefusal(extra) }
            journal.emit(level, workerEvent: event, fields.merging(extra) { a, _ in a })
        case .workerGauges(let g):
            // A worker's figures are added up and shown: nonsense (negative, absurd, a lifetime count that went
            // down) gets the worker killed and logged, never a trap here.
            guard g.isPlausible, g.recordsDropped >= slot.recordsDroppedCounted else {
                workerMisbehaved(slot, "implausible gauges: \(g)")
                return
            }
            slot.gauges = g
            if g.recordsDropped > slot.recordsDroppedCounted {
                let delta = g.recordsDropped - slot.recordsDroppedCounted
                slot.recordsDroppedCounted = g.recordsDropped
                metrics.recordsDropped[slot.index] = (metrics.recordsDropped[slot.index] ?? 0).saturatingAdd(delta)
                fields["records"] = .int(delta)
                fields["records_total"] = .int(g.recordsDropped)
                journal.emit(.warning, .recordsDropped, fields)
                recentDrops.add(
                    time: Timestamp.now(), "\(delta) records dropped", "worker \(slot.index) pid \(slot.pid)")
            }
        case .liveMoved(let state):
            liveMoved(state, descriptor: nil, from: slot)  // without its descriptor: refused there
        case .handoff, .drain, .adoptLive:
            workerMisbehaved(slot, "worker sent a supervisor command")
        }
    }

    /// Frees a handed connection's slots, exactly once: on its close record, or on its worker's death.
    func release(_ id: UInt64, reason: String) {
        guard let h = handed.removeValue(forKey: id) else { return }
        h.worker.letGo(id, channel: h.channel)
        if !caps.release(view: h.view, client: h.clientKey) { accountingError("release", id) }
        metrics.countClosed(view: h.view, reason: reason)
    }
}
