import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Testing

/// The service over the Kafka wire protocol (librdkafka's mock cluster): produce CloudEvents,
/// run the real service, read alerts, dead letters and balances back from the broker.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct EndToEndTests {
    @Test func alertsDeadLettersAndBalancesAreReadBackExactly() async throws {
        let h = try ServiceHarness()
        try h.produce(event("credit.plan.assigned", "acme", id: "p1", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#), key: "acme")
        for i in 0..<40 {  // 40 × 10 = 400 of 500 → 100 left = 20 % exactly
            try h.produce(event("ai.usage", "acme", id: "u\(i)", time: "2026-11-02T00:00:\(String(format: "%02d", i))Z",
                                data: #"{"action":"web_research","member":"ana"}"#), key: "acme")
        }
        try h.produce(event("ai.usage", "acme", id: "u39", time: "2026-11-02T00:00:39Z", data: #"{"action":"web_research"}"#), key: "acme")  // duplicate
        try h.produce(event("ai.usage", "acme", id: "bad-1", time: "2026-11-02T00:01:00Z", data: #"{"action":"teleport"}"#), key: "acme",
                      headers: [("traceparent", "00-abc-01")])
        try h.produce(#"{"specversion":"1.0","id":"#, key: "acme")
        try h.produce(event("ai.usage", "acme", id: "spoof", time: "2026-11-02T00:01:00Z", data: #"{"action":"chat"}"#), key: "mallory")
        try h.produce(event("ai.usage", "acme", id: "u40", time: "2026-11-02T00:02:00Z", data: #"{"action":"knowledge_sync","quantity":4}"#), key: "acme")  // → −0? 100 − 100 = 0
        try h.produce(event("credit.topup.purchased", "acme", id: "t1", time: "2026-11-03T00:00:00Z", data: #"{"pack":"pack-1000"}"#), key: "acme")
        let service = try await h.runService(until: 47)
        let status = service.status
        #expect(status.consumed == 47)
        #expect(status.applied == 43)
        #expect(status.duplicates == 1)
        #expect(status.deadLettered == 3)
        #expect(status.alertsPublished == 3)

        let alerts = try h.readAll("credit.alerts", expect: 3)
        #expect(alerts.map { $0.json["id"] as? String } == [
            "acme/2026-11-01T00:00:00Z/credit.balance.low/20/1",
            "acme/2026-11-01T00:00:00Z/credit.balance.exhausted/0/1",
            "acme/2026-11-01T00:00:00Z/credit.balance.recovered/0/1",
        ])
        #expect(alerts.allSatisfy { $0.key == "acme" })
        let low = alerts[0]
        #expect(low.value.contains(#""data":{"account":"acme","threshold_percent":20,"remaining_credits":100,"entitlement_credits":500,"remaining_percent":20.0,"cycle_start":"2026-11-01T00:00:00Z","cycle_end":"2026-12-01T00:00:00Z","triggered_by":"u39","rate_card_version":"2026-11-01"}"#))
        #expect(low.json["time"] as? String == "2026-11-02T00:00:39Z")
        #expect(low.json["source"] as? String == "credit-meter")
        #expect(alerts[1].value.contains(#""remaining_credits":0,"entitlement_credits":500,"remaining_percent":0.0"#))
        #expect(alerts[1].json["subject"] as? String == "acme")
        #expect(alerts[2].value.contains(#""threshold_percent":0,"remaining_credits":1000,"entitlement_credits":1500,"remaining_percent":66.6"#))

        let dead = try h.readAll("ai.usage.dlq", expect: 3)
        #expect(dead.count == 3)
        let byReason = Dictionary(uniqueKeysWithValues: dead.map { ($0.headers["error"] ?? "", $0) })
        let unknown = try #require(byReason["unknown action for rate card 2026-11-01"])
        #expect(unknown.key == "acme")
        #expect(unknown.value.contains(#""id":"bad-1""#))
        #expect(unknown.headers["traceparent"] == "00-abc-01")
        #expect(unknown.headers["source-topic"] == "ai.usage")
        #expect(unknown.headers["source-partition"] != nil)
        let malformed = try #require(dead.first { $0.headers["error"]?.hasPrefix("malformed JSON") == true })
        #expect(malformed.value == #"{"specversion":"1.0","id":"#)
        let spoof = try #require(byReason["record key differs from the event's subject"])
        #expect(spoof.key == "mallory")
        // source-offset points at the original record.
        let originals = try h.readAll("ai.usage")
        let original = originals.first { String($0.offset) == spoof.headers["source-offset"] && String($0.partition) == spoof.headers["source-partition"] }
        #expect(original?.value == spoof.value)

        // Balances topic: the last record per key is the current document (contract fields).
        let balances = try h.readAll("credit.balances")
        let last = try #require(balances.last { $0.key == "acme" })
        #expect(last.value == #"{"account":"acme","balance_credits":1000,"overage_credits":0,"entitlement_credits":1500,"used_this_cycle_credits":500,"plan":"basic","monthly_credits":500,"cycle_start":"2026-11-01T00:00:00Z","cycle_end":"2026-12-01T00:00:00Z","blocks":[{"kind":"allowance","credits":0,"expires_at":"2026-12-01T00:00:00Z"},{"kind":"topup","credits":1000,"expires_at":null}],"rate_card_version":"2026-11-01","last_event_id":"t1","available_credits":1000,"holds":{"active":0,"held_credits":0,"remaining_credits":0}}"#)
        // The full document (snapshot inspect, later HTTP) carries the breakdowns.
        let ledger = try #require(service.finalLedgers().values.first { $0.accountIndex("acme") != nil })
        let full = String(decoding: ledger.accountDocument(ledger.accountIndex("acme")!), as: UTF8.self)
        #expect(full.contains(#""by_member":{"ana":400}"#))
    }

    /// §12 on the wire: an auto top-up request on the requests topic (exact id and bytes), a
    /// member budget alert on the alerts topic, a refund (void) reflected in the balances.
    @Test func topUpRequestsAndMemberBudgetAlertsAreReadBackExactly() async throws {
        let h = try ServiceHarness()
        try h.produce(event("credit.plan.assigned", "acme", id: "p1", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), key: "acme")
        try h.produce(event("credit.topup.purchased", "acme", id: "t1", time: "2026-11-01T00:00:00Z", data: #"{"pack":"pack-1000"}"#), key: "acme")
        try h.produce(event("credit.autotopup.configured", "acme", id: "c1", time: "2026-11-01T00:00:01Z",
                            data: #"{"pack":"pack-1000","below_credits":60,"max_per_cycle":2}"#), key: "acme")
        try h.produce(event("credit.member.budget.set", "acme", id: "b1", time: "2026-11-01T00:00:02Z",
                            data: #"{"member":"ana","monthly_credits":40}"#), key: "acme")
        try h.produce(event("ai.usage", "acme", id: "u1", time: "2026-11-02T00:00:00Z", data: #"{"action":"web_research","quantity":4,"member":"ana"}"#), key: "acme")
        try h.produce(event("credit.grant.voided", "acme", id: "v1", time: "2026-11-03T00:00:00Z", data: #"{"grant_id":"t1","reason":"refund"}"#), key: "acme")
        let service = try await h.runService(until: 6)
        #expect(service.status.applied == 6)
        let requests = try h.readAll("credit.requests", expect: 1)
        #expect(requests.count == 1)
        #expect(requests.first?.key == "acme")
        #expect(requests.first?.value == #"{"specversion":"1.0","id":"acme/2026-11-01T00:00:00Z/credit.topup.requested/1","source":"credit-meter","type":"credit.topup.requested","subject":"acme","time":"2026-11-03T00:00:00Z","datacontenttype":"application/json","data":{"account":"acme","pack":"pack-1000","credits":1000,"balance_credits":60,"below_credits":60,"triggered_by":"v1","request_number":1,"max_per_cycle":2}}"#)
        let alerts = try h.readAll("credit.alerts", expect: 1)
        #expect(alerts.map { $0.json["id"] as? String } == ["acme/2026-11-01T00:00:00Z/ana/credit.member.budget.exhausted/0/1"])
        let balances = try h.readAll("credit.balances")
        #expect(balances.last { $0.key == "acme" }?.value.contains(#""balance_credits":60,"overage_credits":0,"entitlement_credits":100,"#) == true)
    }

    @Test func binaryModeEventsAreAccepted() async throws {
        let h = try ServiceHarness()
        try h.produce(#"{"action":"web_research","quantity":2}"#, key: "bin",
                      headers: [("ce_specversion", "1.0"), ("ce_id", "b1"), ("ce_source", "svc"), ("ce_type", "ai.usage"),
                                ("ce_subject", "bin"), ("ce_time", "2026-11-05T00:00:00Z"), ("content-type", "application/json")])
        let service = try await h.runService(until: 1)
        #expect(service.status.priced == 1)
        #expect(service.status.creditsChargedMillicredits == 20_000)
        let ledger = try #require(service.finalLedgers().values.first { $0.accountIndex("bin") != nil })
        #expect(ledger.account("bin")?.charged == 20_000)
    }

    @Test func restartResumesFromTheSnapshotWithoutRepeatingOutputs() async throws {
        let h = try ServiceHarness()
        try h.produce(event("credit.plan.assigned", "r", id: "p", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), key: "r")
        for i in 0..<9 { try h.produce(event("ai.usage", "r", id: "a\(i)", time: "2026-11-02T00:00:0\(i)Z", data: #"{"action":"web_research"}"#), key: "r") }
        try await h.runService(until: 10)  // 90 used: low 20 then low 10 (10 left)
        // Offsets were committed up to the snapshot.
        let snapshotFiles = try FileManager.default.subpathsOfDirectory(atPath: h.dir + "/snapshots").filter { $0.hasSuffix(".snap") }
        #expect(!snapshotFiles.isEmpty)
        #expect(try h.committedAndEnds().committed.values.max() == 10)
        try h.produce(event("ai.usage", "r", id: "a9", time: "2026-11-02T00:00:09Z", data: #"{"action":"web_research"}"#), key: "r")
        try h.produce(event("ai.usage", "r", id: "a8", time: "2026-11-02T00:00:08Z", data: #"{"action":"web_research"}"#), key: "r")  // duplicate across restart
        let second = try await h.runService(until: 2)
        #expect(second.status.consumed == 2)  // resumed at the snapshot's offset, not from the beginning
        #expect(second.status.duplicates == 1)
        let alerts = try h.readAll("credit.alerts")
        #expect(alerts.map { $0.json["id"] as? String } == [
            "r/2026-11-01T00:00:00Z/credit.balance.low/20/1",
            "r/2026-11-01T00:00:00Z/credit.balance.low/10/1",
            "r/2026-11-01T00:00:00Z/credit.balance.exhausted/0/1",
        ])
        let ledger = try #require(second.finalLedgers().values.first { $0.accountIndex("r") != nil })
        #expect(ledger.account("r")?.balance == 0)
    }

    @Test func aChangedRateCardVersionIsRefusedAtStart() async throws {
        let cards = FileManager.default.temporaryDirectory.appendingPathComponent("cm-cards-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: cards, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: cards) }
        let original = ServiceHarness.repoRoot.appendingPathComponent("configs/rate-cards/2026-11-01.yaml").path
        try FileManager.default.copyItem(atPath: original, toPath: cards + "/2026-11-01.yaml")
        let h = try ServiceHarness(rateCardsDir: cards)
        try h.produce(event("ai.usage", "x", id: "1", time: "2026-11-02T00:00:00Z", data: #"{"action":"chat"}"#), key: "x")
        try await h.runService(until: 1)
        // Someone edits the used version in place.
        let text = try String(contentsOfFile: cards + "/2026-11-01.yaml", encoding: .utf8)
        try text.replacingOccurrences(of: "chat:             { credits: 1 }", with: "chat:             { credits: 2 }")
            .write(toFile: cards + "/2026-11-01.yaml", atomically: true, encoding: .utf8)
        let service = MeterService(config: try h.config(), logger: h.logger)
        let error = await #expect(throws: (any Error).self) { try await service.run() }
        #expect("\(error.map { "\($0)" } ?? "")".contains("rate-card version 2026-11-01 changed content since it was used"))
    }

    @Test func everyRecordDeliveredTwiceGivesTheSameBalances() async throws {
        let h = try ServiceHarness(partitions: 16)
        var spec = WorkloadSpec()
        spec.seed = 5
        spec.accounts = 500
        spec.usageEvents = 20_000
        spec.duplicateEvery = 0
        spec.malformed = 10
        let records = Workload.generate(spec)
        let reference = Reference(records: records, config: try h.config().engine)
        try h.produce(records.flatMap { [$0, $0] })  // a producer that retried every record
        let service = try await h.runService(until: Int64(records.count * 2))
        #expect(service.status.duplicates == reference.applied)
        var documents: [String: String] = [:]
        for ledger in service.finalLedgers().values {
            for i in 0..<ledger.accountCount { documents[ledger.accountID(i)] = String(decoding: ledger.accountDocument(i), as: UTF8.self) }
        }
        #expect(documents == reference.documents)
        let alerts = try h.readAll("credit.alerts")
        #expect(Set(alerts.compactMap { $0.json["id"] as? String }) == Set(reference.alerts.keys))
        #expect(alerts.count == reference.alerts.count)  // duplicates trigger nothing
        // Malformed records are dead-lettered each time they arrive.
        #expect(try h.held("ai.usage.dlq") == 20)
    }

    @Test func aDeadLetterTooLargeForTheBrokerKeepsItsHeadersButNotItsValue() async throws {
        let h = try ServiceHarness()
        let huge = String(repeating: "x", count: 950_000)  // not JSON, and near the broker's record limit
        try h.produce(huge, key: "big", headers: [("traceparent", "t-1")])
        try h.produce(event("ai.usage", "big", id: "ok", time: "2026-11-02T00:00:00Z", data: #"{"action":"chat"}"#), key: "big")
        let service = try await h.runService(until: 2)
        #expect(service.status.deadLettered == 1)
        #expect(service.status.priced == 1)  // the service went on
        let dead = try h.readAll("ai.usage.dlq", expect: 1)
        #expect(dead.count == 1)
        #expect(dead.first?.value == "")
        #expect(dead.first?.headers["original-value-bytes"] == "950000")
        #expect(dead.first?.headers["traceparent"] == "t-1")
        #expect(dead.first?.headers["error"]?.hasPrefix("malformed event") == true)
    }

    @Test func aSnapshotPositionTheTopicNoLongerHoldsStopsTheServiceInsteadOfSkipping() async throws {
        let h = try ServiceHarness(partitions: 1)
        for i in 0..<3 { try h.produce(event("ai.usage", "p", id: "u\(i)", time: "2026-11-02T00:00:00Z", data: #"{"action":"chat"}"#), key: "p") }
        // A snapshot that claims records up to offset 1000 of a partition holding 3.
        let config = try h.config()
        let bytes = SnapshotCodec.encode(PartitionLedger(config: config.engine), topic: "ai.usage", partition: 0, nextOffset: 1000, metadata: 0)
        try SnapshotStore(dir: config.snapshots.dir, keep: 3).write(bytes, for: TopicPartition("ai.usage", 0), nextOffset: 1000)
        let service = MeterService(config: config, logger: h.logger)
        let error = await #expect(throws: (any Error).self) { try await service.run() }
        #expect("\(error.map { "\($0)" } ?? "")".contains("no longer in the topic"))
        #expect(service.status.applied == 0)
    }
}
