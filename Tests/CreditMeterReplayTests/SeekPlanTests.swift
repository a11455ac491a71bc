@testable import CreditMeterReplay
import Testing

/// Where replay starts reading: the broker's offsets-for-times answer, trusted only when the
/// records agree with it (the mock cluster answers -1 and Tansu 0 for every query).
@Suite struct SeekPlanTests {
    @Test func seekPlanTrustsTheBrokerOnlyWhenTheRecordsAgree() {
        let ts: [Int64: Int64] = [0: 100, 1: 200, 2: 300, 3: 400]
        func decide(_ answer: Int64?, _ target: Int64) -> SeekPlan {
            SeekPlan.decide(answer: answer, targetMs: target, low: 0, high: 4) { ts[$0] }
        }
        #expect(decide(2, 250) == .seek(2))                 // Apache Kafka: right
        #expect(decide(0, 50) == .seek(0))
        #expect(decide(-1, 500) == .seek(4))                // nothing at or after: all older
        if case .scan = decide(-1, 250) {} else { Issue.record("mock's -1 must not be trusted") }
        if case .scan = decide(0, 250) {} else { Issue.record("Tansu's 0 must not be trusted") }
        if case .scan = decide(3, 250) {} else { Issue.record("an answer past the first newer record must not be trusted") }
        if case .scan = decide(nil, 250) {} else { Issue.record("no answer: scan") }
    }
}
