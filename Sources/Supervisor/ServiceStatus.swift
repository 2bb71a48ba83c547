/// The one-line summary sent as STATUS= (what `systemctl status livefeed` shows):
///
///     serving; workers 2/2; live 4 (channel 3, metrics 1); refused 5 in 1m (view_cap 3, client_cap 2); dropped 120 frames in 1m (2 connections)
///
/// The state, workers of the current generation serving out of configured (with crash-looping worker indexes),
/// live connections by view, refusals at the door in the last minute by reason, and frames dropped for slow live
/// clients in the last minute with the number of connections they belonged to; during a reload's handover also
/// `moving N` (live connections still on old workers or on their way) and `moved N` (so far, since start).
/// Pure, for tests.
struct ServiceStatus {
    var state: String
    var workersUp: Int
    var workersTotal: Int
    var crashLooping: [Int] = []
    /// Live connections by view, in a fixed view order; views with none are left out.
    var live: [(view: String, count: Int)] = []
    var refusals: [String: Int64] = [:]
    var droppedFrames: Int64 = 0
    var droppedConnections: Int64 = 0
    /// Live connections still to move to new workers (shown only while some are), and moved since start.
    var moving = 0
    var moved = 0

    var line: String {
        var parts = [state]
        var workers = "workers \(workersUp)/\(workersTotal)"
        if !crashLooping.isEmpty {
            workers += " (crash-looping: \(crashLooping.map(String.init).joined(separator: ",")))"
        }
        parts.append(workers)
        parts.append(
            "live \(live.reduce(0) { $0 + $1.count })" + Self.breakdown(live.map { ($0.view, Int64($0.count)) }))
        let refused = refusals.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
        parts.append(
            "refused \(refusals.values.reduce(0, +)) in 1m" + Self.breakdown(refused.map { ($0.key, $0.value) }))
        var dropped = "dropped \(droppedFrames) frames in 1m"
        if droppedConnections > 0 { dropped += " (\(droppedConnections) connections)" }
        parts.append(dropped)
        if moving > 0 { parts.append("moving \(moving) (moved \(moved))") }
        return parts.joined(separator: "; ")
    }

    private static func breakdown(_ items: [(String, Int64)]) -> String {
        items.isEmpty ? "" : " (" + items.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + ")"
    }
}
