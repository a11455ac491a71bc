@testable import CreditMeterService
import Testing

/// The acknowledged watermark of the loop's numbered outputs: reports arrive out of order
/// across partitions; the watermark is the lowest number not yet acknowledged.
@Suite struct OutputSequenceTests {
    @Test func theWatermarkIsTheLowestUnacknowledgedNumber() {
        var s = OutputSequence()
        let n = (0..<5).map { _ in s.issue() }
        #expect(n == [0, 1, 2, 3, 4] && s.next == 5 && s.watermark == 0)
        s.acknowledge(2)
        s.acknowledge(1)
        #expect(s.watermark == 0)  // 0 is still out
        s.acknowledge(0)
        #expect(s.watermark == 3)
        s.acknowledge(4)
        #expect(s.watermark == 3)
        s.acknowledge(3)
        #expect(s.watermark == 5 && s.watermark == s.next)
    }

    @Test func aFailedProduceTakesItsNumberBack() {
        var s = OutputSequence()
        _ = s.issue()
        let n = s.issue()
        s.retract(n)
        #expect(s.next == 1)
        s.acknowledge(0)
        #expect(s.watermark == 1)
    }

    /// Far more in flight than the ring starts with, acknowledged in a scrambled order: the
    /// watermark never passes an unacknowledged number and reaches `next` at the end.
    @Test func manyInFlightOutOfOrder() {
        var s = OutputSequence()
        let count: UInt64 = 20_000
        for _ in 0..<count { _ = s.issue() }
        // Two "partitions": the even numbers acknowledged in order first, then the odd ones.
        var order = Array(stride(from: 0, to: count, by: 2)) + Array(stride(from: 1, to: count, by: 2))
        order.swapAt(0, 10_001)
        var acknowledged = Set<UInt64>()
        var expected: UInt64 = 0
        var wrong = 0
        for n in order {
            s.acknowledge(n)
            acknowledged.insert(n)
            while acknowledged.contains(expected) { expected += 1 }
            if s.watermark != expected { wrong += 1 }
        }
        #expect(wrong == 0)
        #expect(s.watermark == count)
        // And new numbers keep working after the ring wrapped.
        let more = s.issue()
        #expect(more == count)
        s.acknowledge(more)
        #expect(s.watermark == count + 1)
    }
}
