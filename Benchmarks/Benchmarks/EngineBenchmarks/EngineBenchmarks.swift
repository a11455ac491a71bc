import Benchmark
import CreditEngine

// Engine micro-benchmarks: decode, price, apply (decode → price → apply → alerts), alert
// evaluation, snapshot encode/decode. Throughput and allocations per event.
//   cd Benchmarks && swift package --disable-sandbox benchmark

/// Rate card and price book as in configs/ (kept inline: the benchmark has no file I/O).
func engineConfiguration() -> EngineConfiguration {
    let one = MicroCredits.one
    let card = try! RateCard(
        version: "2026-11-01", effectiveFrom: EventTime.parse("2026-11-01T00:00:00Z")!, incrementMillicredits: 1, roundingMode: .halfUp,
        modelMultipliers: ["default": one, "standard": one, "reasoning": 6 * one],
        actions: ["chat": ActionPrice(credits: one), "doc_search": ActionPrice(credits: 3 * one),
                  "web_research": ActionPrice(credits: 10 * one), "action_execution": ActionPrice(credits: 15 * one),
                  "summarize_thread": ActionPrice(credits: one, per1kInputTokens: 50_000, maxCredits: 2 * one),
                  "knowledge_sync": ActionPrice(credits: 25 * one), "read_ticket": ActionPrice(credits: 0)])
    let book = try! PriceBook(currency: "USD", plans: [.init(id: "trial", monthlyCredits: 100_000, priceMicros: 0),
                                                       .init(id: "pro", monthlyCredits: 2_000_000, priceMicros: 79_000_000)],
                              packs: [.init(id: "pack-1000", credits: 1_000_000, priceMicros: 10_000_000)])
    return try! EngineConfiguration(rateCards: RateCardBook([card]), priceBook: book)
}

/// ~330-byte usage events over `accounts` accounts, the seed customers' action mix.
func usageRecords(_ n: Int, accounts: Int, offset: Int = 0) -> [(key: [UInt8], value: [UInt8])] {
    let actions = ["chat", "chat", "chat", "chat", "chat", "doc_search", "summarize_thread", "web_research", "action_execution", "read_ticket"]
    var state: UInt64 = 42
    func next() -> UInt64 { state &+= 0x9E37_79B9_7F4A_7C15; var z = state; z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; return z ^ (z >> 27) }
    let start = EventTime.parse("2026-11-02T00:00:00Z")!
    return (0..<n).map { i in
        let account = "acct-\(Int(next() % UInt64(accounts)))"
        let action = actions[Int(next() % 10)]
        let time = EventTime.format(start + Int64(offset + i) * 1_000_000_000)
        let json = "{\"specversion\":\"1.0\",\"id\":\"evt-\(offset + i)\",\"source\":\"//ai.example/assistant\",\"type\":\"ai.usage\",\"subject\":\"\(account)\",\"time\":\"\(time)\",\"datacontenttype\":\"application/json\",\"data\":{\"action\":\"\(action)\",\"quantity\":1,\"model\":\"standard\",\"capability\":\"assistant\",\"member\":\"u-\(next() % 8)\",\"input_tokens\":\(next() % 4000),\"output_tokens\":\(next() % 800),\"cost_usd\":\"0.0042\"}}"
        return (Array(account.utf8), Array(json.utf8))
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal, .cpuTotal],
                                           scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 1_000)
    let config = engineConfiguration()
    let records = usageRecords(100_000, accounts: 100_000)

    Benchmark("decode") { benchmark in
        let decoder = EventDecoder()
        var sink: Int64 = 0
        for i in benchmark.scaledIterations {
            records[i % records.count].value.withUnsafeBytes { v in sink &+= (try? decoder.decode(v))?.time ?? 0 }
        }
        blackHole(sink)
    }

    Benchmark("price") { benchmark in
        let decoder = EventDecoder()
        var sink: Int64 = 0
        for i in benchmark.scaledIterations {
            records[i % records.count].value.withUnsafeBytes { v in
                let e = try! decoder.decode(v)
                sink &+= (try? config.rateCards.price(e, version: 0)) ?? 0
            }
        }
        blackHole(sink)
    }

    // Steady state: every account exists, events carry new ids (so none is a duplicate).
    let ledger = PartitionLedger(config: config)
    let warmDecoder = EventDecoder()
    for r in records { r.value.withUnsafeBytes { v in _ = r.key.withUnsafeBytes { ledger.apply(try! warmDecoder.decode(v), key: $0, recordTime: nil) } } }
    let fresh = usageRecords(1_000_000, accounts: 100_000, offset: 1_000_000)
    let cursor = Cursor()

    Benchmark("decode+price+apply+alerts (100k accounts)") { benchmark in
        let decoder = EventDecoder()
        var sink: Int64 = 0
        for _ in benchmark.scaledIterations {
            let r = fresh[cursor.next() % fresh.count]
            r.value.withUnsafeBytes { v in
                let e = try! decoder.decode(v)
                sink &+= r.key.withUnsafeBytes { ledger.apply(e, key: $0, recordTime: nil) }.charged
            }
        }
        blackHole(sink)
    }

    Benchmark("alert evaluation") { benchmark in
        var state = AlertState()
        let thresholds: [Int64] = [20, 10]
        var fired = 0
        for i in benchmark.scaledIterations {
            let balance = Int64(2_000_000 - (i % 2_100) * 1_000)
            let decision = state.evaluate(balance: balance, entitlement: 2_000_000, thresholds: thresholds)
            if decision.crossed != nil || decision.recovered != nil { fired += 1 }
        }
        blackHole(fired)
    }

    let snapshotLedger: PartitionLedger = {
        let decoder = EventDecoder()
        let ledger = PartitionLedger(config: config)
        for r in records { r.value.withUnsafeBytes { v in _ = r.key.withUnsafeBytes { ledger.apply(try! decoder.decode(v), key: $0, recordTime: nil) } } }
        return ledger
    }()
    let accounts = snapshotLedger.accountCount

    Benchmark("snapshot encode (per account)", configuration: .init(scalingFactor: .one, maxIterations: 20)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(SnapshotCodec.encode(snapshotLedger, topic: "ai.usage", partition: 0, nextOffset: 1, metadata: 0))
        }
        benchmark.measurement(.custom("accounts"), accounts)
    }

    let bytes = SnapshotCodec.encode(snapshotLedger, topic: "ai.usage", partition: 0, nextOffset: 1, metadata: 0)
    Benchmark("snapshot decode (per account)", configuration: .init(scalingFactor: .one, maxIterations: 20)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! SnapshotCodec.decode(bytes, config: config))
        }
        benchmark.measurement(.custom("accounts"), accounts)
    }
}

/// Walks the fresh records across samples (benchmark closures run once per sample).
final class Cursor: @unchecked Sendable {
    private var i = 0
    func next() -> Int { defer { i += 1 }; return i }
}
