import Glibc
import LivefeedProtocol

/// /healthz and the dispatch of the supervisor's own endpoints, answered from its own state. They count
/// against the per-address cap at the door, like any connection, but never against the global or view caps,
/// so monitoring still gets an answer when the server is full.
extension Supervisor {
    func answer(_ p: PendingConnection, _ endpoint: ViewClassifier.SupervisorEndpoint, _ head: HTTPRequestHead) {
        guard releasePending(p) else { return }
        guard head.method == "GET" || head.method == "HEAD" else {
            let r = DoorResponse(
                status: 405, contentType: "application/json", body: errorJSON("method_not_allowed", "use GET"),
                headers: [("Allow", "GET, HEAD")])
            write(p, r, status: 405, reason: "method_not_allowed", view: nil)
            return
        }
        let response: DoorResponse
        switch endpoint {
        case .healthz:
            let (healthy, body) = health()
            response = DoorResponse(status: healthy ? 200 : 503, contentType: "application/json", body: body)
        case .metrics:
            response = DoorResponse(
                status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(prometheusText().utf8)
            )
        case .status:
            response = DoorResponse(
                status: 200, contentType: "text/html; charset=utf-8", body: Array(statusPage(showAddresses: p.role == .metrics).utf8))
        }
        var r = response
        r.headOnly = head.method == "HEAD"
        write(p, r, status: r.status, reason: "", view: nil)
    }

    /// Healthy while not stopping, at least half the workers (rounded up) serve, and no worker is crash-looping:
    /// a crash loop must never hide behind a healthy-looking supervisor.
    func health() -> (Bool, [UInt8]) {
        let up = workers.runningCount
        let looping = crashLoopingWorkers
        var problems: [String] = []
        if stopping { problems.append("stopping") }
        if let problem = poolProblem() { problems.append(problem) }
        var w = JSONWriter()
        w.beginObject()
        w.field("status", problems.isEmpty ? "ok" : "unhealthy")
        if !problems.isEmpty { w.field("reason", problems.joined(separator: "; ")) }
        w.field("workers_up", up)
        w.field("workers_total", workers.current.count)
        w.key("crash_looping")
        w.beginArray()
        for slot in looping { w.value(slot.index) }
        w.endArray()
        w.field("generation", workers.generation)
        w.field("reloading", reload != nil)
        w.field("connections", caps.total)
        w.field("pending", pending.count)
        w.endObject()
        return (problems.isEmpty, w.bytes)
    }
}
