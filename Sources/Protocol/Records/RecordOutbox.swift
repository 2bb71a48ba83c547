/// Encoded records waiting for room on a worker's control socket, oldest first.
///
/// What may be lost depends on what a record is for:
/// - `essential` records carry slot accounting (ready, connection opened and closed). Losing one would leak a cap
///   slot in the supervisor, so they are never dropped; there are at most two per connection, and the caps bound
///   the connections, so they stay bounded too.
/// - `droppable` records (log lines) are dropped and counted once `maxDroppable` of them or `maxDroppableBytes`
///   are waiting.
/// - `coalescing` records (gauges) are snapshots: a newer one replaces one still waiting, in its place.
package struct RecordOutbox {
    package enum Delivery: Sendable {
        case essential
        case droppable
        case coalescing
    }

    private struct Entry {
        var bytes: [UInt8]
        var delivery: Delivery
    }

    private var entries: [Entry] = []
    private var head = 0
    private var droppableCount = 0
    private var droppableBytes = 0
    private var coalescingIndex: Int?
    package let maxDroppable: Int
    package let maxDroppableBytes: Int
    /// Records dropped since this outbox was made.
    package private(set) var dropped: Int64 = 0
    /// Bytes of every waiting record.
    package private(set) var byteCount = 0
    /// The most records that ever waited at once.
    package private(set) var peakCount = 0

    package init(maxDroppable: Int = 4096, maxDroppableBytes: Int = 1 << 20) {
        self.maxDroppable = maxDroppable
        self.maxDroppableBytes = maxDroppableBytes
    }

    package static func delivery(of record: Record) -> Delivery {
        switch record {
        case .workerReady, .connectionOpened, .connectionClosed, .handoff, .drain, .adoptLive, .liveMoved: .essential
        case .log: .droppable
        case .workerGauges: .coalescing
        }
    }

    package var isEmpty: Bool { head == entries.count }
    package var count: Int { entries.count - head }

    /// Queues `bytes`; returns false when it had to be dropped.
    @discardableResult
    package mutating func enqueue(_ bytes: [UInt8], _ delivery: Delivery) -> Bool {
        switch delivery {
        case .essential:
            break
        case .droppable:
            if droppableCount >= maxDroppable || droppableBytes + bytes.count > maxDroppableBytes {
                dropped += 1
                return false
            }
            droppableCount += 1
            droppableBytes += bytes.count
        case .coalescing:
            if let i = coalescingIndex {
                byteCount += bytes.count - entries[i].bytes.count
                entries[i].bytes = bytes
                return true
            }
            coalescingIndex = entries.count
        }
        entries.append(Entry(bytes: bytes, delivery: delivery))
        byteCount += bytes.count
        peakCount = max(peakCount, count)
        return true
    }

    /// The oldest waiting record.
    package var front: [UInt8]? { isEmpty ? nil : entries[head].bytes }

    /// Forgets the oldest waiting record, once it has been sent.
    package mutating func removeFront() {
        guard !isEmpty else { return }
        let entry = entries[head]
        byteCount -= entry.bytes.count
        switch entry.delivery {
        case .essential: break
        case .droppable:
            droppableCount -= 1
            droppableBytes -= entry.bytes.count
        case .coalescing:
            coalescingIndex = nil
        }
        entries[head].bytes = []
        head += 1
        if head == entries.count {
            entries.removeAll(keepingCapacity: entries.count <= 1024)
            head = 0
        } else if head >= 1024 && head * 2 >= entries.count {
            entries.removeFirst(head)
            coalescingIndex = coalescingIndex.map { $0 - head }
            head = 0
        }
    }
}
