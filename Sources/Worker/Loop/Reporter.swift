import Glibc
import LivefeedProtocol

/// Sends records to the supervisor over the control socket without ever blocking the worker: when the socket
/// is full, records wait in a `RecordOutbox` (bounded for log lines, never dropping slot accounting, gauges
/// coalesced), and what had to be dropped is counted and reported in the next gauges.
///
/// A loop turn's records go as one message at its end (`endTurn`): in a burst of connections that is one
/// sendmsg(2) here and one recvmsg(2) and wakeup in the supervisor for many `connection_opened` records instead of
/// one each.
final class Reporter {
    /// The most bytes of records sent together: 32 KiB, or a quarter of the socket's send buffer when that is
    /// smaller (a message must fit in it whole). A single larger record (a long log line) goes alone.
    let maxBatchBytes: Int

    let socket: FileDescriptor
    private var outbox: RecordOutbox
    /// This turn's records, encoded back to back, and where each ends with how it may be queued if the socket
    /// is full at the end of the turn.
    private var batch: [UInt8] = []
    private var batchParts: [(end: Int, delivery: RecordOutbox.Delivery)] = []
    /// Set when the supervisor's end is gone; the worker then exits.
    private(set) var peerGone = false

    init(socket: FileDescriptor, maxDroppable: Int = 4096, maxDroppableBytes: Int = 1 << 20) {
        self.socket = socket
        let sendBuffer = (try? socket.option(level: SOL_SOCKET, name: SO_SNDBUF)).map(Int.init) ?? 0
        maxBatchBytes = max(1024, min(32 * 1024, sendBuffer / 4))
        outbox = RecordOutbox(maxDroppable: maxDroppable, maxDroppableBytes: maxDroppableBytes)
    }

    var hasPending: Bool { !outbox.isEmpty || !batch.isEmpty }
    var droppedRecords: Int64 { outbox.dropped }
    var queuedRecords: Int { outbox.count }
    var peakQueuedRecords: Int { outbox.peakCount }

    /// Sends `record` with the rest of this turn's (at `endTurn`), or queues it behind what waits already.
    func send(_ record: Record) {
        let bytes = RecordCodec.encode(record)
        let delivery = RecordOutbox.delivery(of: record)
        if !batch.isEmpty && batch.count + bytes.count > maxBatchBytes { endTurn() }
        guard outbox.isEmpty else {
            outbox.enqueue(bytes, delivery)
            return
        }
        batch += bytes
        batchParts.append((batch.count, delivery))
    }

    /// Sends this turn's records as one message; if the socket is full they wait in the outbox one by one, as
    /// if each had been sent alone.
    func endTurn() {
        guard !batch.isEmpty else { return }
        defer {
            batch.removeAll(keepingCapacity: true)
            batchParts.removeAll(keepingCapacity: true)
        }
        if outbox.isEmpty && trySend(batch) { return }
        var start = 0
        for part in batchParts {
            outbox.enqueue(Array(batch[start..<part.end]), part.delivery)
            start = part.end
        }
    }

    func log(_ level: LogLevel, _ event: LogEvent, _ fields: [String: RecordValue] = [:]) {
        send(.log(level: level, event: event.rawValue, fields: fields))
    }

    /// Called when the socket is writable again.
    func flush() {
        endTurn()
        while let bytes = outbox.front {
            if !trySend(bytes) { return }
            outbox.removeFront()
        }
    }

    /// At exit: keeps flushing while the supervisor reads, until the outbox is empty or `deadline` passes.
    func flushBeforeExit(deadline: UInt64, clock: MonotonicClock) {
        endTurn()
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
