import Foundation
import Glibc
import Testing

/// How and when one of several live streams ended.
struct TimedEnding {
    var ending: WebSocketEnding
    var at: ContinuousClock.Instant
}

/// Reads many live streams at once until each has ended, checking every envelope on the way (see `LiveStream`), and
/// returns for each stream how it ended and when the ending arrived. Streams are polled, so the arrival times are
/// those of the server's closes (to a few milliseconds), not of the order the test reads them in.
func awaitEndings(_ streams: [LiveStream], timeout: Duration) throws -> [TimedEnding] {
    let deadline = ContinuousClock.now + timeout
    var endings: [TimedEnding?] = Array(repeating: nil, count: streams.count)
    while endings.contains(where: { $0 == nil }) {
        guard ContinuousClock.now < deadline else {
            let open = endings.indices.filter { endings[$0] == nil }
            throw TimedOut(description: "\(open.count) of \(streams.count) live streams still open after \(timeout)")
        }
        var progressed = false
        for i in streams.indices where endings[i] == nil && streams[i].client.socket.isReadable(within: .zero) {
            progressed = true
            do {
                _ = try streams[i].nextEnvelope(timeout: .seconds(5))
            } catch let ended as WebSocketEnded {
                endings[i] = TimedEnding(ending: ended.ending, at: .now)
            }
        }
        if !progressed { usleep(2_000) }
    }
    return endings.map { $0! }
}

extension LiveStream {
    /// The `retry_after_ms` of the last `status` envelope received, if any.
    var lastRetryAfterMilliseconds: Int? {
        envelopes.last { $0.string("type") == "status" }?.object("data")?.int("retry_after_ms")
    }
}
