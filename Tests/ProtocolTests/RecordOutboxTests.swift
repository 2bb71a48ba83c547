import LivefeedProtocol
import Testing

@Suite struct RecordOutboxTests {
    static let log = RecordCodec.encode(.log(level: .info, event: "x", fields: [:]))
    static let closed = RecordCodec.encode(.connectionClosed(connectionID: 1, view: .http, fields: [:]))

    @Test func logLinesPastTheBoundAreDroppedAndCounted() {
        var outbox = RecordOutbox(maxDroppable: 3)
        for _ in 0..<10 { outbox.enqueue(Self.log, .droppable) }
        #expect(outbox.count == 3)
        #expect(outbox.dropped == 7)
    }

    @Test func byteBoundAlsoDropsLogLines() {
        var outbox = RecordOutbox(maxDroppable: 1000, maxDroppableBytes: Self.log.count * 2)
        for _ in 0..<5 { outbox.enqueue(Self.log, .droppable) }
        #expect(outbox.count == 2)
        #expect(outbox.dropped == 3)
    }

    @Test func slotAccountingIsNeverDroppedEvenWhenLogsAre() {
        var outbox = RecordOutbox(maxDroppable: 1)
        for _ in 0..<100 {
            outbox.enqueue(Self.log, .droppable)
            let queued = outbox.enqueue(Self.closed, .essential)
            #expect(queued)
        }
        #expect(outbox.count == 101)
        #expect(outbox.dropped == 99)
        #expect(outbox.peakCount == 101)
    }

    @Test func gaugesCoalesceInPlace() {
        var outbox = RecordOutbox()
        let older = RecordCodec.encode(.workerGauges(WorkerGauges(queuedBytes: 1)))
        let newer = RecordCodec.encode(.workerGauges(WorkerGauges(queuedBytes: 2)))
        outbox.enqueue(Self.closed, .essential)
        outbox.enqueue(older, .coalescing)
        outbox.enqueue(Self.log, .droppable)
        outbox.enqueue(newer, .coalescing)
        #expect(outbox.count == 3)
        #expect(outbox.byteCount == Self.closed.count + newer.count + Self.log.count)
        outbox.removeFront()
        #expect(outbox.front == newer)
        outbox.removeFront()
        // Once sent, the next snapshot queues anew.
        outbox.enqueue(older, .coalescing)
        #expect(outbox.count == 2)
    }

    @Test func drainsInOrderAndFreesItsBudget() {
        var outbox = RecordOutbox(maxDroppable: 2)
        var sent: [[UInt8]] = []
        for i in 0..<3000 {
            let bytes = RecordCodec.encode(.connectionOpened(connectionID: UInt64(i), view: .channel))
            outbox.enqueue(bytes, .essential)
            outbox.enqueue(Self.log, .droppable)
            if i % 3 == 0, let f = outbox.front {
                sent.append(f)
                outbox.removeFront()
            }
        }
        while let f = outbox.front {
            sent.append(f)
            outbox.removeFront()
        }
        let ids = sent.compactMap { bytes -> UInt64? in
            if case .connectionOpened(let id, _)? = try? RecordCodec.decode(bytes[...]) { return id }
            return nil
        }
        #expect(ids == Array(0..<3000))
        #expect(outbox.isEmpty && outbox.byteCount == 0)
        let queued = outbox.enqueue(Self.log, .droppable)
        #expect(queued)
    }

    @Test func deliveryClassFollowsWhatTheRecordIsFor() {
        #expect(RecordOutbox.delivery(of: .connectionClosed(connectionID: 1, view: .http, fields: [:])) == .essential)
        #expect(RecordOutbox.delivery(of: .connectionOpened(connectionID: 1, view: .channel)) == .essential)
        #expect(RecordOutbox.delivery(of: .workerReady(pid: 1)) == .essential)
        #expect(RecordOutbox.delivery(of: .log(level: .error, event: "e", fields: [:])) == .droppable)
        #expect(RecordOutbox.delivery(of: .workerGauges(WorkerGauges())) == .coalescing)
    }
}
