import LivefeedProtocol

/// /status: a page for people. Workers with pid, generation, uptime and restarts; connections against every
/// cap; crash loops; recent refusals, drops and worker events.
extension Supervisor {
    /// `showAddresses`: client addresses and ports of refused and dropped connections, shown only on the private
    /// metrics socket; on the public socket those lists give times and reasons only.
    func statusPage(showAddresses: Bool) -> String {
        let now = clock.nowMilliseconds
        func cell(_ s: String) -> String { "<td>\(HTMLText.escape(s))</td>" }
        func row(_ cells: [String]) -> String { "<tr>" + cells.map(cell).joined() + "</tr>" }
        func header(_ cells: [String]) -> String { "<tr>" + cells.map { "<th>\($0)</th>" }.joined() + "</tr>" }

        var banner = ""
        let (healthy, _) = health()
        for slot in crashLoopingWorkers {
            let last = HTMLText.escape(slot.lastExit?.description ?? "start failed")
            let wait = slot.nextStartAt > now ? slot.nextStartAt - now : 0
            banner +=
                "<p class=\"bad\" id=\"crash-loop-\(slot.index)\">Worker \(slot.index) is crash-looping: "
                + "\(slot.consecutiveFailures) quick failures in a row, last \(last), next start in \(wait) ms.</p>"
        }
        if acceptEpisode != nil { banner += "<p class=\"bad\">Accepting is paused: out of file descriptors.</p>" }
        if let reload { banner += "<p>Reload in progress for \(now - reload.startedAt) ms.</p>" }
        if stopping { banner += "<p class=\"bad\">Stopping.</p>" }
        if let role = roleText { banner += "<p id=\"role\">Role: \(HTMLText.escape(role)).</p>" }

        var capRows = row(["all connections", String(caps.total), String(caps.limits.global)])
        for v in ConnectionView.allCases {
            let cap = caps.limits.limit(for: v).map(String.init) ?? "-"
            capRows += row(["view \(v.rawValue)", String(caps.byView[v] ?? 0), cap])
        }
        capRows += row(["busiest client address", String(caps.busiestClient), String(caps.limits.perClient)])
        capRows += row(["client addresses", String(caps.byClient.count), "-"])
        capRows += row(["waiting at the door", String(pending.count), "-"])

        var workerRows = ""
        for (role, slots) in [
            ("current", workers.current), ("incoming", workers.incoming), ("retiring", workers.retiring),
        ] {
            for s in slots {
                workerRows += row([
                    String(s.index), String(s.generation), role, s.hasProcess ? String(s.pid) : "-", s.state.rawValue,
                    s.hasProcess ? "\((now - s.startedAt) / 1000) s" : "-",
                    String(metrics.workerRestarts[s.index] ?? 0),
                    String(s.connections.count),
                    s.channelSubscribers.isEmpty
                        ? "0" : "\(s.channelSubscribers.counts.count) (largest \(s.channelSubscribers.largest))",
                    String(s.gauges?.queuedBytes ?? 0),
                    String(metrics.recordsDropped[s.index] ?? 0), s.crashLooping ? "yes" : "no",
                    s.lastExit?.description ?? "",
                ])
            }
        }

        let workerHeader = header([
            "#", "generation", "role", "pid", "state", "uptime", "restarts", "connections", "channels", "queued bytes",
            "records dropped", "crash loop", "last exit",
        ])
        func events(_ list: RecentEvents, withAddresses: Bool = false) -> String {
            if list.total == 0 { return "<p>None.</p>" }
            if withAddresses && !showAddresses {
                let rows = list.newestFirst.map { row([$0.time, $0.summary]) }.joined()
                return "<p>\(list.total) in all; the newest (client addresses only on the private metrics socket):</p>"
                    + "<table>\(header(["time", "what"]))\(rows)</table>"
            }
            let rows = list.newestFirst.map { row([$0.time, $0.summary, $0.detail]) }.joined()
            return "<p>\(list.total) in all; the newest:</p><table>\(header(["time", "what", "detail"]))\(rows)</table>"
        }
        var refusalCounts = ""
        for (k, n) in metrics.refused.sorted(by: { $0.key < $1.key }) {
            refusalCounts += row([k.reason, k.view, String(n)])
        }
        let drops = ConnectionView.allCases.filter(\.isLive).map { metrics.framesDropped[$0] ?? 0 }.saturatingSum()
        let recordDrops = metrics.recordsDropped.values.saturatingSum()

        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>livefeed status</title>
            <style>body{font:14px system-ui,sans-serif;margin:1.5rem}td,th{padding:.2rem .6rem;text-align:left}
            .bad{color:#a00;font-weight:bold}</style></head><body><h1>livefeed status</h1>
            <p id="health" data-healthy="\(healthy)">\(healthy ? "Healthy" : "Unhealthy"): listening on \(address), \
            up \((now - startedAt) / 1000) s, worker generation \(workers.generation), \
            \(workers.runningCount) of \(workers.current.count) workers serving.</p>\(banner)
            <h2>Connections and caps</h2><table id="caps">\(header(["what", "now", "cap"]))\(capRows)</table>
            <h2>Workers</h2><table id="workers">\(workerHeader)\(workerRows)</table>
            <h2>Refusals</h2><table id="refusals">\(header(["reason", "view", "count"]))\(refusalCounts)</table>
            \(events(recentRefusals, withAddresses: true))
            <h2>Drops</h2><p>\(drops) frames dropped for slow clients; \(recordDrops) worker records dropped.</p>
            \(events(recentDrops, withAddresses: true))
            <h2>Worker events</h2>\(events(recentWorkerEvents))
            </body></html>
            """
    }
}
