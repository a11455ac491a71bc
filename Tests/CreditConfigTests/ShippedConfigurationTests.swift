import CreditConfig
import CreditEngine
import Foundation
import Testing

/// The configuration built into the binary must be exactly configs/ (regenerate with
/// scripts/generate-shipped-config.sh), and must load to the same engine configuration.
@Suite struct ShippedConfigurationTests {
    static let configs = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("configs")

    static func filesOnDisk() throws -> [String] {
        let root = configs.path
        let walker = FileManager.default.enumerator(atPath: root)
        var out: [String] = []
        while let p = walker?.nextObject() as? String {
            if p.hasSuffix(".yaml") || p.hasSuffix(".yml") { out.append(p) }
        }
        return out.sorted()
    }

    @Test func builtInFilesEqualConfigsFolderByteForByte() throws {
        let onDisk = try Self.filesOnDisk()
        #expect(onDisk == ShippedConfiguration.paths)
        #expect(onDisk.contains("credit-meter.yaml") && onDisk.contains("price-book.yaml"))
        for path in onDisk {
            let disk = try String(contentsOf: Self.configs.appendingPathComponent(path), encoding: .utf8)
            #expect(ShippedConfiguration.text(path) == disk, "configs/\(path) differs from the built-in copy: run scripts/generate-shipped-config.sh")
        }
    }

    @Test func builtInConfigurationLoadsLikeTheFolder() throws {
        let fromDisk = try ServiceConfiguration.load(path: Self.configs.appendingPathComponent("credit-meter.yaml").path, environment: [:])
        let builtIn = try ShippedConfiguration.load(environment: [:])
        #expect(builtIn.kafka == fromDisk.kafka)
        #expect(builtIn.thresholds == fromDisk.thresholds)
        #expect(builtIn.dedupeWindowHours == fromDisk.dedupeWindowHours)
        #expect(builtIn.engine.rateCards.versions.map(\.card.version) == fromDisk.engine.rateCards.versions.map(\.card.version))
        #expect(builtIn.engine.rateCards.versions.map(\.hash) == fromDisk.engine.rateCards.versions.map(\.hash))
        #expect(builtIn.engine.priceBook.plans.map(\.id) == fromDisk.engine.priceBook.plans.map(\.id))
        #expect(builtIn.engine.priceBook.plans.map(\.monthlyCredits) == fromDisk.engine.priceBook.plans.map(\.monthlyCredits))
        #expect(builtIn.file == ShippedConfiguration.root + "/credit-meter.yaml")
        #expect(builtIn.rateCardsDir == ShippedConfiguration.root + "/rate-cards")
    }

    @Test func environmentOverridesApplyToTheBuiltInConfiguration() throws {
        let c = try ShippedConfiguration.load(environment: ["CREDIT_METER_KAFKA_GROUP_ID": "g2", "CREDIT_METER_ALERTS_THRESHOLDS_PERCENT": "30,5"])
        #expect(c.kafka.groupID == "g2")
        #expect(c.thresholds == [30, 5])
    }
}
