import Glibc
import LivefeedProtocol

/// Sends records to the supervisor over the control socket without ever blocking the worker: when the socket
/// is full, records wait in a `RecordOutbox` (bounded for log lines, never dropping slot accounting, gauges
/// coalesced), and what had to be dropped is counted and reported in the next gauges.
final class Reporter {
    let socket: FileDescriptor
    private var outbox: RecordOutbox
    /// Set when the supervisor's end is gone; the worker then exits.
    private(set) var peerGone = false

    init(socket: FileDescriptor, maxDroppable: Int = 4096, maxDroppableBytes: Int = 1 << 20) {
        self.socket = socket
        outbox = RecordOutbox(maxDroppable: maxDroppable, maxDroppableBytes: maxDroppableBytes)
    }

    var hasPending: Bool { !outbox.isEmpty }
    var droppedRecords: Int64 { outbox.dropped }
    var queuedRecords: Int { outbox.count }
    var peakQueuedRecords: Int { outbox.peakCount }

    func send(_ record: Record) {
        let bytes = RecordCodec.encode(record)
        if outbox.isEmpty && trySend(bytes) { return }
        outbox.enqueue(bytes, RecordOutbox.delivery(of: record))
    }

    func log(_ level: LogLevel, _ event: LogEvent, _ fields: [String: RecordValue] = [:]) {
        send(.log(level: level, event: event.rawValue, fields: fields))
    }

    /// Called when the socket is writable again.
    func flush() {
        while let bytes = outbox.front {
            if !trySend(bytes) { return }
            outbox.removeFront()
        }
    }

    /// At exit: keeps flushing while the supervisor reads, until the outbox is empty or `deadline` passes.
    func flushBeforeExit(deadline: UInt64, clock: MonotonicClock) {
        flush()
        while hasPending && !peerGone {
            let now = clock.nowMilliseconds
            guard now < deadline else { return }
            var pfd = pollfd(fd: socket.rawValue, events: Int16(POLLOUT), revents: 0)
            _ = poll(&pfd, 1, Int32(min(deadline - now, 100)))
            flush()
        }
    }

    private func trySend(_ bytes: [UInt8]) -> Bool {
        if peerGone { return true }
        do {
            switch try FDPassing.send(on: socket, bytes, descriptor: nil) {
            case .done: return true
            case .wouldBlock: return false
            }
        } catch {
            peerGone = true
            return true  // nothing more can be delivered; do not queue
        }
    }
}
