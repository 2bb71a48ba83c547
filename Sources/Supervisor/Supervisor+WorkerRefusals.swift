import LivefeedProtocol

/// Refusals answered by workers (a bad Origin or token, an unknown live view or id, a bad query: 4xx before an
/// upgrade) count like the door's own: in `connections_refused_total{view,reason}`, STATUS= and /status.
extension Supervisor {
    /// Counts a worker's `connection_refused` record. Its fields are untrusted: a reason that is not a short
    /// lowercase code is not counted (the record is still logged), and the metrics bound how many reasons exist.
    func countWorkerRefusal(_ fields: [String: RecordValue]) {
        guard let reason = fields["reason"]?.stringValue, Self.isRefusalCode(reason) else { return }
        let view = fields["view"]?.stringValue.flatMap(ConnectionView.init(rawValue:))
        let status = fields["status"]?.intValue.flatMap { (100...599).contains($0) ? $0 : nil } ?? 0
        let counted = metrics.countRefused(view: view, reason: reason)
        refusalsLastMinute.add(counted, nowMilliseconds: clock.nowMilliseconds)
        let client = fields["client"]?.stringValue.map { String($0.prefix(64)) } ?? ""
        recentRefusals.add(time: Timestamp.now(), "\(status) \(reason)", "\(client) view \(view?.rawValue ?? "unknown")")
    }

    static func isRefusalCode(_ s: String) -> Bool {
        (1...40).contains(s.utf8.count) && s.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
    }
}
