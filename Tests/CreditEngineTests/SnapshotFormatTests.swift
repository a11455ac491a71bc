import Foundation
import Testing
import CreditEngine

/// Every snapshot format version ever written stays readable: one committed sample file per
/// version under `Fixtures/`, each decoded to exact values. Bumping `formatVersion` means
/// adding `snapshot-v<N>.snap` and its test — never rewriting an older sample.
@Suite struct SnapshotFormatTests {
    static let fixtures = Fixtures.repoRoot.appendingPathComponent("Tests/CreditEngineTests/Fixtures").path

    static func sample(_ version: Int) -> String { "\(fixtures)/snapshot-v\(version).snap" }
    /// A second v1 sample (two accounts with a pin, a top-up, a grant and overage), decoded
    /// field by field below; `SnapshotFixtureTests` decodes every `snapshot-v<N>.snap`.
    static let v1AcmeBeta = "\(fixtures)/v1-acme-beta.snap"

    /// The ledger the v1 sample was written from. To write the sample again (only while v1 is
    /// the current format): `CREDIT_METER_WRITE_FIXTURES=1 swift test --filter SnapshotFormatTests`.
    static func v1Ledger() throws -> TestLedger {
        let t = try TestLedger()
        t.plan("acme", "pro", at: "2026-11-01T00:00:00Z")
        t.usage("acme", "web_research", at: "2026-11-02T10:00:00Z", quantity: 3)
        t.topup("acme", at: "2026-11-03T00:00:00Z")
        t.grant("acme", "50", at: "2026-11-04T00:00:00Z", expires: "2026-12-15T00:00:00Z")
        t.pin("beta", "2026-11-01", at: "2026-11-01T00:00:00Z")
        t.plan("beta", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("beta", "action_execution", at: "2026-11-05T00:00:00Z", quantity: 7)
        t.adjust("beta", "-2.5", at: "2026-11-06T00:00:00Z")
        t.usage("acme", "summarize_thread", at: "2026-11-07T00:00:00Z", inputTokens: 12_345)
        return t
    }

    @Test func everyFormatVersionHasASample() {
        for v in 1...Int(SnapshotCodec.formatVersion) {
            #expect(FileManager.default.fileExists(atPath: Self.sample(v)), "no sample for snapshot format v\(v)")
        }
    }

    @Test func writeV1SampleWhenAsked() throws {
        guard ProcessInfo.processInfo.environment["CREDIT_METER_WRITE_FIXTURES"] == "1", SnapshotCodec.formatVersion == 1 else { return }
        let t = try Self.v1Ledger()
        let bytes = SnapshotCodec.encode(t.ledger, topic: "ai.usage", partition: 3, nextOffset: 1234, metadata: 1_795_000_000_000)
        try Data(bytes).write(to: URL(fileURLWithPath: Self.v1AcmeBeta))
    }

    @Test func v1SampleDecodesToExactValues() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.v1AcmeBeta)))
        #expect(bytes[7] == 1)  // "CMSNAP\0" then the format version
        let (ledger, header) = try SnapshotCodec.decode(bytes, config: Fixtures.engine())
        #expect(header.topic == "ai.usage" && header.partition == 3)
        #expect(header.nextOffset == 1234 && header.metadata == 1_795_000_000_000)
        #expect(header.rateCardHashes.keys.sorted() == ["2026-11-01"])
        #expect(ledger.audit().isClean)
        #expect(ledger.accountCount == 2)
        #expect(ledger.dedupe.count == DEDUPE)
        let c = ledger.counters
        #expect("\(c.applied) \(c.priced) \(c.duplicates) \(c.rejected) \(c.alerts) \(c.chargedMillicredits)" == COUNTERS)

        let acme = try #require(ledger.account("acme"))
        #expect(acme.balance == ACME_BALANCE && acme.overage == ACME_OVERAGE && acme.entitlement == ACME_ENTITLEMENT)
        #expect(acme.usedThisCycle == ACME_USED && acme.allowance == ACME_ALLOWANCE)
        #expect(acme.blocks.map { "\($0.kind):\($0.remaining):\($0.expiresAt)" } == ACME_BLOCKS)

        let beta = try #require(ledger.account("beta"))
        #expect(beta.balance == BETA_BALANCE && beta.overage == BETA_OVERAGE && beta.entitlement == BETA_ENTITLEMENT)
        #expect(beta.usedThisCycle == BETA_USED && beta.allowance == BETA_ALLOWANCE)
        #expect(beta.blocks.map { "\($0.kind):\($0.remaining):\($0.expiresAt)" } == BETA_BLOCKS)

        // The same state as the log it was written from, replayed under today's code.
        let fresh = try Self.v1Ledger()
        #expect((0..<ledger.accountCount).map { ledger.accountID($0) } == (0..<fresh.ledger.accountCount).map { fresh.ledger.accountID($0) })
        for id in ["acme", "beta"] { #expect(ledger.account(id)!.balance == fresh.balance(id)) }
    }
}
// What the v1 sample holds (acme: pro 2 000 credits, 31.617 used, a 1 000 top-up and a 50
// grant; beta: trial 100, 105 used, −2.5 adjusted: 7.5 in overage). Amounts in millicredits.
private let DEDUPE = 2  // the adjustment (remembered forever) and the last event inside the 24 h window
private let COUNTERS = "9 3 0 0 1 136617"  // applied priced duplicates rejected alerts charged
private let ACME_BALANCE: Int64 = 3_018_383, ACME_OVERAGE: Int64 = 0, ACME_ENTITLEMENT: Int64 = 3_050_000
private let ACME_USED: Int64 = 31_617, ACME_ALLOWANCE: Int64 = 1_968_383
private let ACME_BLOCKS = ["grant:50000:1797292800000000000", "topup:1000000:9223372036854775807"]
private let BETA_BALANCE: Int64 = -7_500, BETA_OVERAGE: Int64 = 7_500, BETA_ENTITLEMENT: Int64 = 100_000
private let BETA_USED: Int64 = 105_000, BETA_ALLOWANCE: Int64 = 0
private let BETA_BLOCKS: [String] = []
