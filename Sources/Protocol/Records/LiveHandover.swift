/// What a live connection needs to continue in another worker (a reload with `--reload-mode handover`): the view
/// and format it watches, where it stands (cursor, epoch), its heartbeat state, and its account so far. Only a
/// connection with nothing queued for the client and nothing partial read from it moves, so no bytes travel: the
/// socket itself (its descriptor beside the record) holds everything else.
package struct LiveHandover: Equatable, Sendable {
    package var connectionID: UInt64
    package var view: ConnectionView
    /// The request path of the upgrade (e.g. "/live/channels/3"): the new worker routes it again.
    package var path: String
    /// "json" or "html".
    package var format: String
    /// The highest message id the client has been sent.
    package var cursor: Int64
    /// The epoch the client was served under: the new worker closes with `epoch_changed` if its differs.
    package var epoch: String
    /// Milliseconds since the client was last heard from, and since an unanswered ping went out (-1: none).
    package var silentMilliseconds: Int64
    package var pingAgeMilliseconds: Int64
    /// Milliseconds since the connection was handed to its first worker, and what it was sent there: the close
    /// record of the worker that ends it covers the whole connection.
    package var ageMilliseconds: Int64
    package var framesSent: Int64
    package var bytesSent: Int64
    package var framesDropped: Int64
    /// Set by the supervisor when it forwards the connection: the client's address, for the new worker's records.
    package var client: String

    package init(
        connectionID: UInt64, view: ConnectionView, path: String, format: String, cursor: Int64, epoch: String,
        silentMilliseconds: Int64, pingAgeMilliseconds: Int64, ageMilliseconds: Int64, framesSent: Int64,
        bytesSent: Int64, framesDropped: Int64, client: String = ""
    ) {
        self.connectionID = connectionID
        self.view = view
        self.path = path
        self.format = format
        self.cursor = cursor
        self.epoch = epoch
        self.silentMilliseconds = silentMilliseconds
        self.pingAgeMilliseconds = pingAgeMilliseconds
        self.ageMilliseconds = ageMilliseconds
        self.framesSent = framesSent
        self.bytesSent = bytesSent
        self.framesDropped = framesDropped
        self.client = client
    }

    /// Whether the values could describe a real connection (records are untrusted): ages and counts not negative
    /// and below absurd, path and format short.
    package var isPlausible: Bool {
        let day: Int64 = 86_400_000 * 3650
        return silentMilliseconds >= 0 && silentMilliseconds < day && pingAgeMilliseconds >= -1
            && pingAgeMilliseconds < day && ageMilliseconds >= 0 && ageMilliseconds < day && framesSent >= 0
            && bytesSent >= 0 && framesDropped >= 0 && path.utf8.count <= 2048 && epoch.utf8.count <= 256
            && (format == "json" || format == "html")
    }
}
