import Glibc
import LivefeedProtocol

/// /healthz, /metrics and /status, answered by the supervisor itself from its own counters.
extension Supervisor {
    func answer(_ p: PendingConnection, _ endpoint: ViewClassifier.SupervisorEndpoint, _ head: HTTPRequestHead, headBytes: Int) {
        epoll.remove(p.fd)
        pending[p.id] = nil
        guard head.method == "GET" || head.method == "HEAD" else {
            writeAndClose(p, status: 405, reason: "method_not_allowed", body: errorJSON("method_not_allowed", "use GET"),
                contentType: "application/json", extraHeaders: [("Allow", "GET, HEAD")])
            return
        }
        switch endpoint {
        case .healthz:
            let (healthy, body) = health()
            writeAndClose(p, status: healthy ? 200 : 503, reason: "unhealthy", body: body,
                contentType: "application/json", extraHeaders: [])
        case .metrics:
            writeAndClose(p, status: 200, reason: "", body: Array(prometheusText().utf8),
                contentType: "text/plain; version=0.0.4; charset=utf-8", extraHeaders: [])
        case .status:
            writeAndClose(p, status: 200, reason: "", body: Array(statusPage().utf8),
                contentType: "text/html; charset=utf-8", extraHeaders: [])
        }
    }

    /// Healthy while not stopping and at least half the workers (rounded up) serve.
    func health() -> (Bool, [UInt8]) {
        let up = workers.runningCount
        let needed = (workers.slots.count + 1) / 2
        let healthy = !stopping && up >= max(1, needed)
        var w = JSONWriter()
        w.beginObject()
        w.field("status", healthy ? "ok" : "unhealthy")
        w.field("workers_up", up)
        w.field("workers_total", workers.slots.count)
        w.field("connections", handed.count)
        w.endObject()
        return (healthy, w.bytes)
    }

    func liveConnectionsByView() -> [ConnectionView: Int] {
        var counts: [ConnectionView: Int] = [:]
        for h in handed.values { counts[h.view, default: 0] += 1 }
        return counts
    }

    func prometheusText() -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP livefeed_\(name) \(help)\n# TYPE livefeed_\(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: some CustomStringConvertible) {
            let l = labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",")
            out += "livefeed_\(name)\(l.isEmpty ? "" : "{\(l)}") \(value)\n"
        }
        let current = liveConnectionsByView()
        family("connections", "gauge", "Connections currently handed to workers, by view.")
        for v in ConnectionView.allCases { sample("connections", [("view", v.rawValue)], current[v] ?? 0) }
        family("connections_accepted_total", "counter", "Connections handed to workers, by view.")
        for v in ConnectionView.allCases { sample("connections_accepted_total", [("view", v.rawValue)], metrics.accepted[v] ?? 0) }
        family("connections_refused_total", "counter", "Connections refused at the door, by reason.")
        for (r, n) in metrics.refused.sorted(by: { $0.key < $1.key }) { sample("connections_refused_total", [("reason", r)], n) }
        family("connections_closed_total", "counter", "Connections closed, by reason.")
        for (r, n) in metrics.closed.sorted(by: { $0.key < $1.key }) { sample("connections_closed_total", [("reason", r)], n) }
        family("frames_dropped_total", "counter", "Frames queued for clients but never delivered.")
        sample("frames_dropped_total", [], metrics.framesDropped)
        family("workers_up", "gauge", "Workers serving.")
        sample("workers_up", [], workers.runningCount)
        family("worker_restarts_total", "counter", "Unplanned worker restarts, by worker.")
        for s in workers.slots { sample("worker_restarts_total", [("worker", String(s.index))], s.restarts) }
        family("worker_connections", "gauge", "Connections per worker.")
        for s in workers.slots { sample("worker_connections", [("worker", String(s.index))], s.connections.count) }
        return out
    }

    private func escapeLabel(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    func statusPage() -> String {
        let now = clock.nowMilliseconds
        var rows = ""
        for s in workers.slots {
            let uptime = s.state == .stopped ? "-" : "\((now - s.startedAt) / 1000) s"
            rows += "<tr><td>\(s.index)</td><td>\(s.pid)</td><td>\(s.state.rawValue)</td><td>\(uptime)</td>"
                + "<td>\(s.restarts)</td><td>\(s.connections.count)</td><td>\(s.lastExit?.description ?? "")</td></tr>"
        }
        var views = ""
        let current = liveConnectionsByView()
        for v in ConnectionView.allCases { views += "<tr><td>\(v.rawValue)</td><td>\(current[v] ?? 0)</td></tr>" }
        var refusals = ""
        for (r, n) in metrics.refused.sorted(by: { $0.key < $1.key }) { refusals += "<tr><td>\(r)</td><td>\(n)</td></tr>" }
        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>livefeed status</title>
            <style>body{font:14px system-ui,sans-serif;margin:1.5rem}td,th{padding:.2rem .6rem;text-align:left}</style>
            </head><body><h1>livefeed status</h1><p>listening on \(address), up \((now - startedAt) / 1000) s</p>
            <h2>Workers</h2><table><tr><th>#</th><th>pid</th><th>state</th><th>uptime</th><th>restarts</th>
            <th>connections</th><th>last exit</th></tr>\(rows)</table>
            <h2>Connections by view</h2><table>\(views)</table>
            <h2>Refusals</h2><table>\(refusals)</table></body></html>
            """
    }
}
