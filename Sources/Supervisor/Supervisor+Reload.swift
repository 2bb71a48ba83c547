import Glibc
import LivefeedProtocol

/// SIGHUP: replace every worker without refusing a connection. A new generation starts beside the current one,
/// which keeps taking connections until every new worker is ready; then the new generation takes over and the
/// old one drains (live clients get 1012, spread over the close window, and resume by cursor on the new workers)
/// and exits, or is killed at the drain deadline. If the new generation is not ready in time the reload is
/// abandoned and the current workers keep serving.
extension Supervisor {
    func beginReload() {
        guard !stopping else { return }
        if reload != nil {
            reload?.again = true
            journal.emit(.info, .reloadQueued, ["generation": .int(Int64(workers.generation))])
            return
        }
        let now = clock.nowMilliseconds
        reload = Reload(startedAt: now, deadline: now + config.reloadTimeoutMilliseconds)
        metrics.reloads += 1
        let incoming = workers.beginGeneration(count: config.workers)
        notifier.send([
            .reloading(monotonicMicroseconds: clock.nowNanoseconds / 1000), .status(statusLine(now: now)),
            .extendTimeout(microseconds: (config.reloadTimeoutMilliseconds + Self.stopGraceMilliseconds) * 1000),
        ])
        journal.emit(
            .info, .reloadStarted,
            [
                "generation": .int(Int64(workers.generation)), "workers": .int(Int64(incoming.count)),
                "connections": .int(Int64(handed.count)),
            ])
        recentWorkerEvents.add(time: Timestamp.now(), "reload started", "generation \(workers.generation)")
        for slot in incoming { start(slot) }
    }

    /// Called on every `workerReady`: completes the first start and reloads.
    func workerBecameReady(_ slot: WorkerSlot) {
        if reload != nil, !workers.incoming.isEmpty, workers.incoming.allSatisfy({ $0.state == .running }) {
            completeReload()
        }
        if !announcedReady && workers.runningCount == workers.current.count {
            announcedReady = true
            openDoor()
            restoreCarried()
            journal.emit(
                .info, .ready,
                [
                    "address": .string(address.description), "workers": .int(Int64(workers.current.count)),
                    "db": .string(config.databasePath),
                ])
            notifier.send([.ready, .status(statusLine(now: clock.nowMilliseconds))])
        }
    }

    private func completeReload() {
        guard let r = reload else { return }
        let now = clock.nowMilliseconds
        let old = workers.promoteIncoming()
        let moving = old.reduce(0) { $0 + $1.connections.count }
        // With handover the old workers move their live connections to the new ones (`Supervisor+Move.swift`).
        let handover = config.reloadMode == .handover
        for slot in old {
            retire(slot, retryAfterMilliseconds: config.reloadRetryAfterMilliseconds, now: now, handover: handover)
        }
        reload = nil
        journal.emit(
            .info, .reloadComplete,
            [
                "generation": .int(Int64(workers.generation)), "duration_ms": .int(Int64(now - r.startedAt)),
                "retiring": .int(Int64(old.count)), "connections_on_retiring": .int(Int64(moving)),
            ])
        recentWorkerEvents.add(
            time: Timestamp.now(), "reload complete",
            "generation \(workers.generation); \(moving) connections on the old workers")
        notifier.send([.ready, .status(statusLine(now: now))])
        if r.again { beginReload() }
    }

    func checkReload(now: UInt64) {
        guard let r = reload, now >= r.deadline else { return }
        let abandoned = workers.abandonIncoming()
        let notReady = abandoned.filter { $0.state != .running }.map { String($0.index) }
        for slot in abandoned { retire(slot, retryAfterMilliseconds: config.reloadRetryAfterMilliseconds, now: now) }
        reload = nil
        metrics.reloadFailures += 1
        journal.emit(
            .error, .reloadFailed,
            [
                "generation": .int(Int64(workers.generation)), "waited_ms": .int(Int64(now - r.startedAt)),
                "not_ready": .string(notReady.joined(separator: ",")),
            ])
        recentWorkerEvents.add(
            time: Timestamp.now(), "reload failed", "workers \(notReady.joined(separator: ", ")) never became ready")
        notifier.send([.ready, .status("reload failed, previous workers kept; " + statusLine(now: now))])
        if r.again { beginReload() }
    }
}
