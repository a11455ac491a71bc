import Testing
import PropertyBased
import CreditEngine

@Suite struct SnapshotCodecTests {
    func encode(_ t: TestLedger, next: Int64 = 42) -> [UInt8] {
        SnapshotCodec.encode(t.ledger, topic: "ai.usage", partition: 3, nextOffset: next, metadata: 7)
    }

    @Test func restoringAndContinuingEqualsAnUninterruptedRunByteForByte() async {
        await propertyCheck(count: 60, input: Gen.int(in: 0...9_999_999).array(of: 2...150), Gen.int(in: 0...100)) { ops, cut in
            let log = LogGen.log(ops)
            let split = log.count * cut / 100
            let straight = try LogGen.run(log)
            let first = try LogGen.run(Array(log[..<split]))
            let (restored, header) = try SnapshotCodec.decode(encode(first), config: first.ledger.config)
            #expect(header.nextOffset == 42)
            #expect(header.topic == "ai.usage" && header.partition == 3)
            let continued = TestLedger(first.ledger.config)
            continued.adopt(restored)
            for e in log[split...] { continued.apply(e) }
            #expect(continued.documents() == straight.documents())
            // A restart from the snapshot re-makes exactly the same alerts and top-up requests.
            #expect(first.alerts + continued.alerts == straight.alerts)
            #expect(first.requests + continued.requests == straight.requests)
            #expect(encode(continued) == encode(straight))
            #expect(continued.ledger.audit().isClean)
        }
    }

    /// The snapshot writer encodes a frozen copy on its own thread while the consuming thread
    /// goes on: whatever the original does afterwards, the copy encodes the state at the cut.
    @Test func aFrozenCopyEncodesTheStateAtTheCutWhateverTheOriginalDoesNext() async {
        await propertyCheck(count: 40, input: Gen.int(in: 0...9_999_999).array(of: 2...150), Gen.int(in: 0...100)) { ops, cut in
            let log = LogGen.log(ops)
            let split = log.count * cut / 100
            let first = try LogGen.run(Array(log[..<split]))
            let atCut = encode(first)
            let frozen = first.ledger.frozenCopy()
            // Encoded concurrently with the original being changed, as the writer queue does.
            let copy = UncheckedBox(frozen)
            let encoding = Task.detached { SnapshotCodec.encode(copy.value, topic: "ai.usage", partition: 3, nextOffset: 42, metadata: 7) }
            for e in log[split...] { first.apply(e) }
            #expect(await encoding.value == atCut)
            #expect(SnapshotCodec.encode(frozen, topic: "ai.usage", partition: 3, nextOffset: 42, metadata: 7) == atCut)
            #expect(encode(first) == encode(try LogGen.run(log)))
        }
    }

    @Test func detachedConfigurationDescribesAccountsIdentically() async {
        await propertyCheck(count: 40, input: Gen.int(in: 0...9_999_999).array(of: 1...120)) { ops in
            let t = try LogGen.run(LogGen.log(ops))
            let bytes = encode(t)
            let detached = try SnapshotCodec.detachedConfiguration(bytes)
            let (ledger, _) = try SnapshotCodec.decode(bytes, config: detached, verifyRateCards: false)
            let docs = (0..<ledger.accountCount).map { String(decoding: ledger.accountDocument($0), as: UTF8.self) }
            #expect(docs == t.documents())
        }
    }

    @Test func corruptionIsDetected() throws {
        let t = try LogGen.run(LogGen.log([12, 3456, 78_901, 2_345_678]))
        var bytes = encode(t)
        #expect(throws: SnapshotError.self) { _ = try SnapshotCodec.decode(Array(bytes.prefix(bytes.count - 1)), config: t.ledger.config) }
        bytes[bytes.count / 2] ^= 0x40
        #expect(throws: SnapshotError.damaged("checksum mismatch (corrupt or truncated)")) { _ = try SnapshotCodec.decode(bytes, config: t.ledger.config) }
        #expect(throws: SnapshotError.damaged("not a CreditMeter snapshot")) { _ = try SnapshotCodec.decode(Array("hello, world, this is not it".utf8), config: t.ledger.config) }
    }

    @Test func thresholdChangesRemapAlertStateByValue() throws {
        let t = try TestLedger(thresholds: [20, 10])
        t.plan("a", nil, at: "2026-11-01T00:00:00Z", monthly: "100")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 9)  // 10 %: 20 and 10 fired
        let bytes = encode(t)
        let other = try Fixtures.engine(thresholds: [50, 10, 5])
        let (restored, _) = try SnapshotCodec.decode(bytes, config: other)
        let fired = restored.account("a")!.alerts.fired
        #expect(fired == 0b010)  // 10 % kept (now index 1); 20 % no longer configured
    }
}


struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
