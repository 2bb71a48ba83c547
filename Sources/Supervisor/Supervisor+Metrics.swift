import LivefeedProtocol

/// /metrics: the supervisor's counters and gauges in Prometheus text format. Per-worker series carry the
/// worker's index (stable across restarts and reloads) and cover the current generation; retiring workers are
/// summed into their own series.
extension Supervisor {
    func prometheusText() -> String {
        var m = PrometheusText()
        let views = ConnectionView.allCases
        let liveViews = views.filter(\.isLive)
        let now = clock.nowMilliseconds

        m.family("connections", "gauge", "Connections held by workers, by view.")
        for v in views { m.sample("connections", [("view", v.rawValue)], caps.byView[v] ?? 0) }
        m.single("connections_open", "gauge", "Connections held by workers, all views.", caps.total)
        m.single("connections_max", "gauge", "Global cap on connections held by workers.", caps.limits.global)
        m.family("live_connections_max", "gauge", "Cap on connections per live view.")
        for v in liveViews { m.sample("live_connections_max", [("view", v.rawValue)], caps.limits.limit(for: v) ?? 0) }
        m.single("client_connections_max", "gauge", "Cap on connections per client address.", caps.limits.perClient)
        m.single(
            "pending_connections", "gauge", "Connections waiting at the door for their request head.", pending.count)
        m.single(
            "pending_connections_max", "gauge", "Bound on connections waiting for their head (--max-pending).",
            door.maxPending)
        m.single(
            "handoffs_queued", "gauge", "Admitted connections waiting for room in a worker's control socket.",
            handoffsWaitingForRoom)
        m.single("client_addresses", "gauge", "Client addresses holding at least one connection.", caps.byClient.count)
        m.single(
            "busiest_client_connections", "gauge", "Most connections held by one client address.", caps.busiestClient)

        m.family("connections_accepted_total", "counter", "Connections handed to workers, by view.")
        for v in views { m.sample("connections_accepted_total", [("view", v.rawValue)], metrics.accepted[v] ?? 0) }
        m.family("live_connections_opened_total", "counter", "Live streams that completed their upgrade, by view.")
        for v in liveViews {
            m.sample("live_connections_opened_total", [("view", v.rawValue)], metrics.liveOpened[v] ?? 0)
        }
        m.family("connections_refused_total", "counter", "Connections refused (by the supervisor at the door, or by a worker before an upgrade), by view and reason.")
        for (k, n) in metrics.refused.sorted(by: { $0.key < $1.key }) {
            m.sample("connections_refused_total", [("view", k.view), ("reason", k.reason)], n)
        }
        m.family(
            "connections_abandoned_total", "counter", "Connections that ended at the door before a complete head.")
        for (r, n) in metrics.abandoned.sorted(by: { $0.key < $1.key }) {
            m.sample("connections_abandoned_total", [("reason", r)], n)
        }
        m.family("connections_closed_total", "counter", "Handed connections that ended, by view and reason.")
        for (k, n) in metrics.closed.sorted(by: { $0.key < $1.key }) {
            m.sample("connections_closed_total", [("view", k.view), ("reason", k.reason)], n)
        }
        m.family("frames_dropped_total", "counter", "Frames queued for live clients but never delivered, by view.")
        for v in liveViews { m.sample("frames_dropped_total", [("view", v.rawValue)], metrics.framesDropped[v] ?? 0) }

        m.family("role", "gauge", "1 for this host's scale-out role (--role).")
        m.sample("role", [("role", config.role.rawValue)], 1)
        m.single("newest_message_id", "gauge", "The newest message id the workers' database holds.", newestMessageID)
        if let lag = replicaLagMilliseconds {
            m.single(
                "replica_lag_milliseconds", "gauge",
                "A follower's distance from the primary: now less the later of the replica's heartbeat and newest message.",
                lag)
        }

        let current = workers.current
        m.single("workers_configured", "gauge", "Workers per generation.", current.count)
        m.single("workers_up", "gauge", "Workers of the current generation serving.", workers.runningCount)
        m.single(
            "workers_crash_looping", "gauge", "Workers failing quickly again and again.", crashLoopingWorkers.count)
        m.single(
            "workers_retiring", "gauge", "Workers of older generations still draining.",
            workers.retiring.filter(\.hasProcess).count)
        m.single(
            "retiring_worker_connections", "gauge", "Connections still held by draining older workers.",
            workers.retiring.reduce(0) { $0 + $1.connections.count })
        m.single("generation", "gauge", "Worker generation; each SIGHUP starts a new one.", workers.generation)
        m.single("reload_in_progress", "gauge", "1 while a SIGHUP reload waits for new workers.", reload == nil ? 0 : 1)
        m.single("reloads_total", "counter", "Reloads begun (SIGHUP).", metrics.reloads)
        m.single(
            "handoff_messages_total", "counter",
            "Messages that carried connections to workers, several per message when they arrive together.",
            metrics.handoffMessages)
        m.single(
            "connections_moved_total", "counter",
            "Live connections moved to a new worker on a reload (--reload-mode handover), unseen by the client.",
            metrics.moved)
        m.single(
            "connection_move_failures_total", "counter",
            "Live connections that could not move on a reload and were closed with 1012 instead.",
            metrics.moveFailures)
        m.single(
            "connections_moving", "gauge", "Live connections on their way between workers (waiting for a socket).",
            queuedMoveCount)
        m.single(
            "reload_failures_total", "counter", "Reloads abandoned because new workers were not ready.",
            metrics.reloadFailures)

        func perWorker(_ name: String, _ type: String, _ help: String, _ value: (WorkerSlot) -> Int64) {
            m.family(name, type, help)
            for s in current { m.sample(name, [("worker", String(s.index))], value(s)) }
        }
        perWorker("worker_up", "gauge", "1 while the worker serves.") { $0.state == .running ? 1 : 0 }
        perWorker("worker_crash_looping", "gauge", "1 while the worker is in a crash loop.") { $0.crashLooping ? 1 : 0 }
        perWorker("worker_uptime_seconds", "gauge", "Seconds since the worker process started.") {
            $0.hasProcess ? Int64((now - $0.startedAt) / 1000) : 0
        }
        perWorker("worker_connections", "gauge", "Connections the supervisor has handed to the worker.") {
            Int64($0.connections.count)
        }
        perWorker("worker_channels", "gauge", "Channels with live subscribers on the worker (--channel-affinity).") {
            Int64($0.channelSubscribers.counts.count)
        }
        perWorker("worker_queued_bytes", "gauge", "Bytes waiting in the worker's client queues (worker gauge).") {
            $0.gauges?.queuedBytes ?? 0
        }
        perWorker("worker_records_queued", "gauge", "Records waiting in the worker's pipe queue (worker gauge).") {
            $0.gauges?.recordsQueued ?? 0
        }
        perWorker("worker_records_queued_peak", "gauge", "Most records that ever waited in the worker's pipe queue.") {
            $0.gauges?.recordsQueuedPeak ?? 0
        }
        perWorker("worker_restarts_total", "counter", "Unplanned worker exits, each followed by a restart.") {
            Int64(metrics.workerRestarts[$0.index] ?? 0)
        }
        perWorker("records_dropped_total", "counter", "Records a worker could not queue for the supervisor.") {
            metrics.recordsDropped[$0.index] ?? 0
        }
        perWorker("worker_protocol_violations_total", "counter", "Malformed records; each gets the worker killed.") {
            Int64(metrics.protocolViolations[$0.index] ?? 0)
        }
        perWorker("worker_timeouts_total", "counter", "Workers killed for going silent.") {
            Int64(metrics.workerTimeouts[$0.index] ?? 0)
        }
        m.single(
            "worker_drain_kills_total", "counter", "Draining workers killed at the drain deadline.",
            metrics.drainKills)
        m.single(
            "accept_paused", "gauge", "1 while accepting is paused for lack of descriptors.",
            acceptEpisode == nil ? 0 : 1)
        m.single("accept_pauses_total", "counter", "Episodes of descriptor exhaustion at accept.", metrics.acceptPauses)
        m.single(
            "supervisor_stall_milliseconds_total", "counter",
            "Time the supervisor's loop stalled; not counted against workers' silence.",
            metrics.supervisorStallMilliseconds)
        m.single(
            "slot_accounting_errors_total", "counter", "Slots released twice (a bug; should stay 0).",
            metrics.accountingErrors)
        m.single("uptime_seconds", "gauge", "Seconds since the supervisor started.", (now - startedAt) / 1000)
        return m.text
    }
}
