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

    /// Far more in flight than the ring starts with (it grows from 4096 to 32768 numbers),
    /// acknowledged in a scrambled order: the watermark never passes an unacknowledged number
    /// and reaches `next` at the end.
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
        // And new numbers keep working once everything is acknowledged.
        let more = s.issue()
        #expect(more == count)
        s.acknowledge(more)
        #expect(s.watermark == count + 1)
    }

    /// About 3,000 in flight while 100,000 are issued: the ring (4096 numbers) wraps about 24
    /// times without growing; one number held back until the span reaches the capacity makes
    /// it grow once, with the watermark in the middle of the ring. Each number is acknowledged
    /// 2,000–4,000 numbers after it is issued (a fixed scramble); the watermark is checked
    /// after every acknowledgement.
    @Test func theRingWrapsAndGrowsWithTheWatermarkMidRing() {
        var s = OutputSequence()
        let count = 100_000
        #expect(s.capacity == 4096)
        // Held back past the capacity; 51,200 mod 4096 = 2048: the middle of the ring.
        let held = 51_200
        var at = [[UInt64]](repeating: [], count: count + 5_000)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for n in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let delay = n == held ? 4_096 + 500 : 2_000 + Int((state >> 33) % 2_000)
            at[n + delay].append(UInt64(n))
        }
        var acknowledged = [Bool](repeating: false, count: count)
        var expected = 0
        var wrong = 0
        var mostInFlight: UInt64 = 0
        var capacityBeforeHeld: UInt64 = 0
        for step in 0..<at.count {
            if step < count {
                if step == held { capacityBeforeHeld = s.capacity }
                #expect(s.issue() == UInt64(step))
            }
            for n in at[step] {
                #expect(s.acknowledge(n) == nil)
                acknowledged[Int(n)] = true
                while expected < count && acknowledged[expected] { expected += 1 }
                if s.watermark != UInt64(expected) { wrong += 1 }
            }
            mostInFlight = max(mostInFlight, s.next - s.watermark)
        }
        #expect(wrong == 0)
        #expect(capacityBeforeHeld == 4096)  // ~12 wraps without growing
        #expect(s.capacity == 8192)  // one grow, for the number held back
        #expect(mostInFlight > 4096)
        #expect(s.watermark == UInt64(count) && s.next == UInt64(count))
    }

    /// An acknowledgement the numbering refutes changes nothing and says what is wrong (the
    /// publisher records it as a failure instead of crashing in librdkafka's callback).
    @Test func aContradictoryAcknowledgementIsRefused() {
        var s = OutputSequence()
        _ = s.issue()
        _ = s.issue()
        #expect(s.acknowledge(2) == .outside(2, watermark: 0, next: 2))
        #expect(s.acknowledge(1) == nil)
        #expect(s.acknowledge(1) == .twice(1))
        #expect(s.watermark == 0)
        #expect(s.acknowledge(0) == nil)
        #expect(s.watermark == 2)
        #expect(s.acknowledge(0) == .outside(0, watermark: 2, next: 2))
        #expect(s.watermark == 2 && s.next == 2)
        #expect("\(OutputSequence.Contradiction.twice(1))" == "output 1 acknowledged twice")
    }
}
