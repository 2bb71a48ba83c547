import LivefeedProtocol

/// What the service manager hears between the big moments (READY=1, RELOADING=1, STOPPING=1, sent where they
/// happen): STATUS= kept current, EXTEND_TIMEOUT_USEC= while a stop or reload takes its time, and WATCHDOG=1,
/// sent from the loop itself and only while the worker pool is healthy, so a wedged supervisor or a crash-looping
/// pool gets restarted by systemd instead of looking alive.
extension Supervisor {
    /// How long past the drain deadline a stop may take: SIGKILL, reaping, exit.
    static let stopGraceMilliseconds: UInt64 = 5000
    static let statusIntervalMilliseconds: UInt64 = 1000

    /// Called on every turn of the loop.
    func serviceManagerTick(now: UInt64) {
        if let period = notifier.watchdogPeriodMilliseconds, now >= nextWatchdogAt {
            nextWatchdogAt = now + period
            feedWatchdog()
        }
        guard notifier.isEnabled, now >= nextStatusAt else { return }
        nextStatusAt = now + Self.statusIntervalMilliseconds
        var extend: [Notifier.Field] = []
        if stopping {
            extend.append(.extendTimeout(microseconds: stopTimeoutExtension(now: now)))
        } else if let reload {
            let left = reload.deadline > now ? reload.deadline - now : 0
            extend.append(.extendTimeout(microseconds: (left + Self.stopGraceMilliseconds) * 1000))
        }
        notifier.update(status: statusLine(now: now), with: extend)
    }

    /// Time the service manager should still allow the stop: the rest of the drain, plus the grace to kill and
    /// reap what is left. Sent every second while stopping, so a stop that outlives TimeoutStopSec= because
    /// --drain-ms is longer is not killed mid-drain, and a stop that hangs past its own deadline still is.
    func stopTimeoutExtension(now: UInt64) -> UInt64 {
        ((stopDeadline > now ? stopDeadline - now : 0) + Self.stopGraceMilliseconds) * 1000
    }

    /// WATCHDOG=1 if the pool is healthy (always while stopping: the drain has its own deadline). A withheld
    /// keep-alive is logged once per episode, with the reason, and its end too.
    private func feedWatchdog() {
        // systemd arms the watchdog once start-up is complete; before READY=1 there is nothing to keep alive.
        guard announcedReady else { return }
        if !stopping, let problem = poolProblem() {
            if watchdogWithheld == nil {
                watchdogWithheld = problem
                journal.emit(.warning, .watchdogWithheld, ["reason": .string(problem)])
            }
            return
        }
        if let was = watchdogWithheld {
            watchdogWithheld = nil
            journal.emit(.info, .watchdogResumed, ["was": .string(was)])
        }
        notifier.send([.watchdog])
    }

    /// Why the worker pool is not healthy, or nil: fewer than half the current workers (rounded up) serve, or a
    /// worker is crash-looping.
    func poolProblem() -> String? {
        let up = workers.runningCount
        let needed = max(1, (workers.current.count + 1) / 2)
        var problems: [String] = []
        if up < needed { problems.append("only \(up) of \(workers.current.count) workers serve") }
        let looping = crashLoopingWorkers
        if !looping.isEmpty {
            problems.append("worker \(looping.map { String($0.index) }.joined(separator: ", ")) crash-looping")
        }
        return problems.isEmpty ? nil : problems.joined(separator: "; ")
    }

    func statusLine(now: UInt64) -> String {
        var state: String
        if stopping {
            state = "stopping (\(handed.count) connections draining)"
        } else if !announcedReady {
            state = "starting"
        } else if reload != nil {
            state = "reloading (generation \(workers.generation))"
        } else if let problem = poolProblem() {
            state = "degraded: \(problem)"
        } else {
            state = "serving"
        }
        if let role = roleText { state += " as \(role)" }
        let drops = dropsLastMinute.totals(nowMilliseconds: now)
        return ServiceStatus(
            state: state, workersUp: workers.runningCount, workersTotal: workers.current.count,
            crashLooping: crashLoopingWorkers.map(\.index),
            live: ConnectionView.allCases.filter(\.isLive).compactMap { view in
                let n = caps.byView[view] ?? 0
                return n > 0 ? (view.rawValue, n) : nil
            },
            refusals: refusalsLastMinute.totals(nowMilliseconds: now), droppedFrames: drops["frames"] ?? 0,
            droppedConnections: drops["connections"] ?? 0,
            // A reload's handover: what the old workers still hold, and what waits for a new worker.
            moving: config.reloadMode == .handover && !stopping
                ? workers.retiring.reduce(0) { $0 + $1.connections.count } + queuedMoveCount : 0,
            moved: metrics.moved
        ).line
    }
}
