import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation

/// The uninterrupted run: the pure engine applied in-process to the same records in produce
/// order (an account's records keep their order in its partition, so per-account results
/// are the same as the service's).
struct Reference {
    var documents: [String: String] = [:]
    /// The balances-topic document (§6) of each account at the end: the last record per key.
    var balances: [String: String] = [:]
    var alerts: [String: String] = [:]   // id → JSON
    var requests: [String: String] = [:]  // id → JSON (auto top-up, §12)
    var auditClean = false
    var applied: Int64 = 0

    init(records: [WorkloadRecord], config: EngineConfiguration) {
        let ledger = PartitionLedger(config: config)
        let decoder = EventDecoder()
        for r in records {
            r.value.withUnsafeBytes { v in
                guard let e = try? decoder.decode(v) else { return }
                let result: ApplyResult
                if let key = r.key {
                    result = key.withUnsafeBytes { ledger.apply(e, key: $0, recordTime: r.timestampMs * 1_000_000) }
                } else {
                    result = ledger.apply(e, key: nil, recordTime: r.timestampMs * 1_000_000)
                }
                for a in result.alerts {
                    alerts[a.id] = String(decoding: a.json(), as: UTF8.self)
                }
                for q in result.requests {
                    requests[q.id] = String(decoding: q.json(), as: UTF8.self)
                }
            }
        }
        for i in 0..<ledger.accountCount {
            documents[ledger.accountID(i)] = String(decoding: ledger.accountDocument(i), as: UTF8.self)
            var buffer: [UInt8] = []
            ledger.writeBalanceDocument(i, into: &buffer)
            balances[ledger.accountID(i)] = String(decoding: buffer, as: UTF8.self)
        }
        auditClean = ledger.audit().isClean
        applied = ledger.counters.applied
    }
}
