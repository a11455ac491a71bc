import Foundation
import CreditEngine
import CreditConfig

/// Builds CloudEvents JSON for tests: ordered fields, exact number text.
struct EventJSON {
    enum Value {
        case s(String)
        case n(String)       // a JSON number written as-is (exact text)
        case null
        case obj([(String, Value)])
    }

    static func render(_ v: Value) -> String {
        switch v {
        case .s(let s):
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        case .n(let t): return t
        case .null: return "null"
        case .obj(let pairs): return "{" + pairs.map { "\(render(.s($0.0))):\(render($0.1))" }.joined(separator: ",") + "}"
        }
    }

    static func event(_ type: String, account: String, id: String, time: String, source: String = "test",
                      data: [(String, Value)]) -> String {
        render(.obj([("specversion", .s("1.0")), ("id", .s(id)), ("source", .s(source)), ("type", .s(type)),
                     ("subject", .s(account)), ("time", .s(time)), ("data", .obj(data))]))
    }
}

/// The repository's configs/ folder.
enum Fixtures {
    static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("repository root not found")
    }()

    static var configsDir: String { repoRoot.appendingPathComponent("configs").path }

    static func standardCards() throws -> [RateCard] {
        try ServiceConfiguration.loadRateCards(dir: configsDir + "/rate-cards").0
    }

    static func priceBook() throws -> PriceBook {
        try ServiceConfiguration.loadPriceBook(path: configsDir + "/price-book.yaml")
    }

    static func engine(cards: [RateCard]? = nil, thresholds: [Int] = [20, 10], window: Int = 24, runwayDays: Int? = nil,
                       book: PriceBook? = nil) throws -> EngineConfiguration {
        try EngineConfiguration(rateCards: RateCardBook(cards ?? standardCards()), priceBook: book ?? priceBook(),
                                thresholds: thresholds, dedupeWindowHours: window, runwayDays: runwayDays)
    }

    static func card(_ yaml: String) throws(ConfigError) -> RateCard {
        try RateCardLoader.parseRateCard(yaml, file: "test-card.yaml")
    }
}

/// A ledger fed with JSON text, recording everything it produced.
final class TestLedger {
    private(set) var ledger: PartitionLedger
    let decoder = EventDecoder()
    private(set) var alerts: [Alert] = []
    private(set) var rejections: [String] = []
    private var counter = 0

    init(_ config: EngineConfiguration) { ledger = PartitionLedger(config: config) }

    /// Continues from a restored ledger.
    func adopt(_ restored: PartitionLedger) { ledger = restored }
    convenience init(thresholds: [Int] = [20, 10], window: Int = 24, cards: [RateCard]? = nil) throws {
        self.init(try Fixtures.engine(cards: cards, thresholds: thresholds, window: window))
    }

    /// Applies one record; key defaults to the subject; record time defaults to the event time.
    @discardableResult
    func apply(_ json: String, key: String? = nil, recordTime: String? = nil) -> ApplyResult {
        var bytes = Array(json.utf8)
        return bytes.withUnsafeMutableBytes { raw -> ApplyResult in
            let value = UnsafeRawBufferPointer(raw)
            let decoded: DecodedEvent
            do throws(DecodeFailure) { decoded = try decoder.decode(value) } catch {
                rejections.append(error.description)
                return ApplyResult(outcome: .rejected(.decode(error)))
            }
            var keyBytes = Array((key ?? decoded.subject.utf8String).utf8)
            let rt = recordTime.flatMap(EventTime.parse) ?? decoded.time
            let result = keyBytes.withUnsafeMutableBytes { k in
                ledger.apply(decoded, key: UnsafeRawBufferPointer(k), recordTime: rt)
            }
            if case .rejected(let r) = result.outcome { rejections.append(r.description) }
            alerts.append(contentsOf: result.alerts)
            requests.append(contentsOf: result.requests)
            return result
        }
    }

    private func nextID() -> String { counter += 1; return "e\(counter)" }

    @discardableResult
    func usage(_ account: String, _ action: String, at time: String, quantity: Int? = nil, model: String? = nil,
               inputTokens: Int? = nil, id: String? = nil, source: String = "test", member: String? = nil,
               capability: String? = nil, cost: String? = nil) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = [("action", .s(action))]
        if let quantity { data.append(("quantity", .n(String(quantity)))) }
        if let model { data.append(("model", .s(model))) }
        if let inputTokens { data.append(("input_tokens", .n(String(inputTokens)))) }
        if let member { data.append(("member", .s(member))) }
        if let capability { data.append(("capability", .s(capability))) }
        if let cost { data.append(("cost_usd", .s(cost))) }
        return apply(EventJSON.event("ai.usage", account: account, id: id ?? nextID(), time: time, source: source, data: data))
    }

    @discardableResult
    func plan(_ account: String, _ plan: String?, at time: String, monthly: String? = nil, anchor: String? = nil,
              rollover: String? = nil, id: String? = nil) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = []
        if let plan { data.append(("plan", .s(plan))) }
        if let monthly { data.append(("monthly_credits", .n(monthly))) }
        if let anchor { data.append(("cycle_anchor", .s(anchor))) }
        if let rollover { data.append(("rollover_max_credits", .n(rollover))) }
        return apply(EventJSON.event("credit.plan.assigned", account: account, id: id ?? nextID(), time: time, data: data))
    }

    @discardableResult
    func topup(_ account: String, pack: String? = "pack-1000", credits: String? = nil, at time: String, id: String? = nil) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = []
        if let pack { data.append(("pack", .s(pack))) }
        if let credits { data.append(("credits", .n(credits))) }
        return apply(EventJSON.event("credit.topup.purchased", account: account, id: id ?? nextID(), time: time, data: data))
    }

    @discardableResult
    func grant(_ account: String, _ credits: String, at time: String, expires: String? = nil, id: String? = nil) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = [("credits", .n(credits)), ("reason", .s("promo"))]
        if let expires { data.append(("expires_at", .s(expires))) }
        return apply(EventJSON.event("credit.grant.issued", account: account, id: id ?? nextID(), time: time, data: data))
    }

    @discardableResult
    func adjust(_ account: String, _ credits: String, at time: String, id: String? = nil, source: String = "ops") -> ApplyResult {
        apply(EventJSON.event("credit.adjusted", account: account, id: id ?? nextID(), time: time, source: source,
                              data: [("credits", .n(credits)), ("reason", .s("manual")), ("ref", .s("T-1"))]))
    }

    @discardableResult
    func pin(_ account: String, _ version: String?, until: String? = nil, at time: String, id: String? = nil) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = [("version", version.map { .s($0) } ?? .null)]
        if let until { data.append(("until", .s(until))) }
        return apply(EventJSON.event("credit.ratecard.pinned", account: account, id: id ?? nextID(), time: time, data: data))
    }

    @discardableResult
    func void(_ account: String, _ grant: String, at time: String, grantSource: String? = nil, reason: String? = "refund",
              id: String? = nil) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = [("grant_id", .s(grant))]
        if let grantSource { data.append(("grant_source", .s(grantSource))) }
        if let reason { data.append(("reason", .s(reason))) }
        return apply(EventJSON.event("credit.grant.voided", account: account, id: id ?? nextID(), time: time, data: data))
    }

    @discardableResult
    func autoTopup(_ account: String, pack: String? = "pack-1000", credits: String? = nil, below: String?, maxPerCycle: Int? = nil,
                   enabled: Bool? = nil, at time: String, id: String? = nil) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = []
        if let pack { data.append(("pack", .s(pack))) }
        if let credits { data.append(("credits", .n(credits))) }
        if let below { data.append(("below_credits", .n(below))) }
        if let maxPerCycle { data.append(("max_per_cycle", .n(String(maxPerCycle)))) }
        if let enabled { data.append(("enabled", .n(enabled ? "true" : "false"))) }
        return apply(EventJSON.event("credit.autotopup.configured", account: account, id: id ?? nextID(), time: time, data: data))
    }

    /// `monthly` nil writes `"monthly_credits": null` (remove).
    @discardableResult
    func budget(_ account: String, _ member: String, _ monthly: String?, at time: String, id: String? = nil) -> ApplyResult {
        apply(EventJSON.event("credit.member.budget.set", account: account, id: id ?? nextID(), time: time,
                              data: [("member", .s(member)), ("monthly_credits", monthly.map { .n($0) } ?? .null)]))
    }

    /// `percents` nil writes `"thresholds_percent": null` (back to the configured default).
    @discardableResult
    func thresholds(_ account: String, _ percents: [Int]?, at time: String, id: String? = nil) -> ApplyResult {
        let value: EventJSON.Value = percents.map { .n("[" + $0.map(String.init).joined(separator: ",") + "]") } ?? .null
        return apply(EventJSON.event("credit.alerts.configured", account: account, id: id ?? nextID(), time: time,
                                     data: [("thresholds_percent", value)]))
    }

    private(set) var requests: [TopupRequest] = []

    func account(_ id: String) -> Account { ledger.account(id)! }
    func balance(_ id: String) -> Int64 { account(id).balance }
    func document(_ id: String) -> String { String(decoding: ledger.accountDocument(ledger.accountIndex(id)!), as: UTF8.self) }
    func documents() -> [String] { (0..<ledger.accountCount).map { String(decoding: ledger.accountDocument($0), as: UTF8.self) } }

    /// Alerts as compact strings: "type/threshold/n remaining".
    var alertLines: [String] {
        alerts.map { "\($0.type)/\($0.thresholdPercent)/\($0.sequence) \(Credits.format($0.remaining))" }
    }
}

extension Array where Element == Block {
    /// The blocks without the grant fingerprints they carry (for comparing with literals).
    var withoutOrigins: [Block] { map { Block(kind: $0.kind, remaining: $0.remaining, expiresAt: $0.expiresAt) } }
}
