import Testing

@testable import Worker

@Suite struct DrainScheduleTests {
    @Test func closesAreSpacedEvenlyOverTheWindow() {
        var s = DrainSchedule(start: 1000, spreadMilliseconds: 1000, retryAfterMilliseconds: 500)
        s.add(Array(1...50), now: 1000)
        var times: [UInt64: UInt64] = [:]
        for t in stride(from: UInt64(1000), through: 2000, by: 10) {
            for id in s.popDue(now: t) { times[id] = t }
        }
        #expect(times.count == 50)
        #expect(times.values.min()! == 1000)
        #expect(times.values.max()! >= 1960 && times.values.max()! < 2000)
        // No 100 ms slice holds more than its share (5) plus rounding.
        for slice in stride(from: UInt64(1000), to: 2000, by: 100) {
            #expect(times.values.filter { $0 >= slice && $0 < slice + 100 }.count <= 6)
        }
        #expect(s.nextDue == nil)
    }

    @Test func lateArrivalsLandInWhatIsLeftOfTheWindow() {
        var s = DrainSchedule(start: 0, spreadMilliseconds: 1000, retryAfterMilliseconds: 500)
        s.add([1, 2], now: 0)
        let first = s.popDue(now: 600)
        #expect(Set(first) == [1, 2])
        s.add([2, 3, 4], now: 600)
        #expect(s.contains(3) && s.contains(4))
        let none = s.popDue(now: 599)
        #expect(none.isEmpty)
        // 2 was already told; only the newcomers are due, within the 400 ms left.
        let due = s.popDue(now: 1000)
        #expect(Set(due) == [3, 4])
        var late = DrainSchedule(start: 0, spreadMilliseconds: 100, retryAfterMilliseconds: 0)
        late.add([9], now: 5000)
        let r1 = late.popDue(now: 5000)
        #expect(r1 == [9])
    }

    @Test func retrySuggestionsAreJitteredAroundTheBase() {
        let s = DrainSchedule(start: 0, spreadMilliseconds: 0, retryAfterMilliseconds: 1000)
        let values = (0..<200).map { _ in s.retryAfterForOneClient() }
        #expect(values.allSatisfy { (750...1250).contains($0) })
        #expect(Set(values).count > 10)
    }
}
