/// A host's part in a scale-out deployment (`--role`, docs/scale-out.md), as the supervisor parses it and passes it
/// to its workers: standalone (one host), primary (takes writes, beats a heartbeat), follower (serves a read-only
/// replica, sends writers to the primary, reports its lag).
package enum HostRole: String, Sendable {
    case standalone, primary, follower
}
