import Foundation
import Testing
import CreditEngine

/// The inputs with which the snapshot fuzzer crashed the decoder (Fuzz/corpus/snapshot/
/// regression-*.bin), re-sealed with a valid checksum as the fuzz harness does: each must now
/// be refused with a SnapshotError — never trusted, never a trap.
@Suite struct SnapshotHardeningTests {
    static let corpus = Fixtures.repoRoot.appendingPathComponent("Fuzz/corpus/snapshot").path

    static func sealed(_ body: [UInt8]) -> [UInt8] {
        let sum = body.withUnsafeBytes { ByteHash.hash($0, seed: 0xC4EC) }
        return body + (0..<8).map { UInt8(truncatingIfNeeded: sum >> (8 * UInt64($0))) }
    }

    @Test(arguments: ["regression-overflow.bin", "regression-table-ref.bin", "regression-effective-from.bin", "regression-overage.bin",
                      "regression-v1-usage-sum.bin", "regression-runway-first-day.bin", "regression-pin-until-min.bin",
                      "regression-v1-repeated-fingerprint.bin"])
    func fuzzerCrashesAreRefused(name: String) throws {
        let body = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(Self.corpus)/\(name)")))
        let bytes = Self.sealed(body)
        do {
            let config = try SnapshotCodec.detachedConfiguration(bytes)
            _ = try SnapshotCodec.decode(bytes, config: config, verifyRateCards: false)
            Issue.record("a corrupt snapshot was accepted")
        } catch {
            #expect(!error.message.isEmpty)
        }
    }

    @Test(arguments: ["snapshot-2.bin", "snapshot-3.bin", "snapshot-4.bin"])
    func realSnapshotsStillRestore(name: String) throws {
        let bytes = Self.sealed(try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(Self.corpus)/\(name)"))))
        let config = try SnapshotCodec.detachedConfiguration(bytes)
        let (ledger, _) = try SnapshotCodec.decode(bytes, config: config, verifyRateCards: false)
        #expect(ledger.accountCount > 0)
        #expect(ledger.audit().isClean)
    }
}
