import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Synchronization

/// The demo's synthetic product services, behaving like the seed customers' products: before
/// each AI action they ask `/v1/accounts/{account}/check`; an action that is not allowed is
/// not started (the AI pauses, the inbox keeps working), and the billing system buys a
/// top-up pack for the customers who buy when they run out — after which the work resumes.
/// Each account belongs to one shard, so its records keep their order; shards run on threads
/// of their own (blocking sockets and produce calls), one kept-alive HTTP connection each.
///
/// They are paced to the service: at most `pace.maxAhead` records produced and not yet
/// applied. Real products take seconds per AI action and never run a whole workload ahead of
/// the meter; unpaced, a small workload would be produced before the service applied its
/// first record, every `/check` would see full balances, and nothing would ever pause.
struct ProductServices {
    struct Pace: Sendable {
        /// Records produced but not yet applied, at most.
        var maxAhead: Int
        /// Records the service has applied (all outcomes), as it publishes them.
        var applied: @Sendable () -> Int64
        /// Records produced before the products started (the set-up records).
        var producedBefore: Int
        /// False once the service has stopped (then waiting is pointless).
        var serviceRunning: @Sendable () -> Bool
    }

    struct Outcome: Sendable {
        var produced = 0
        var checks = 0
        var allowed = 0
        var paused: [String: Int] = [:]
        var packsBought = 0
        var resumed = 0
        var accountsPaused = 0
    }

    let records: [WorkloadRecord]
    let port: Int
    let token: String?
    let producer: KafkaProducer
    let topic: ProducerTopic
    let shards: Int
    let pace: Pace
    /// Records produced by all shards so far, and the service's applied count as last read
    /// (read again only when the pace looks reached: reading the status costs a lock and a copy).
    private let producedSoFar = Locked(0)
    private let appliedSeen = Locked<Int64>(0)

    /// Customers who buy a pack when their product pauses (7 in 10, chosen by account id).
    static func buysWhenOut(_ account: String) -> Bool {
        account.utf8.reduce(UInt32(2166136261)) { ($0 ^ UInt32($1)) &* 16777619 } % 10 < 7
    }

    static let maxPacksPerAccount = 40

    /// Runs every shard to the end; `progress` is called about once a second.
    func run(progress: @escaping @Sendable (Outcome) -> Void) throws -> Outcome {
        let total = Locked(Outcome())
        let done = Atomic<Bool>(false)
        let reporter = Thread {
            while !done.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: 1)
                if !done.load(ordering: .relaxed) { progress(total.value) }
            }
        }
        reporter.start()
        defer { done.store(true, ordering: .relaxed) }
        try onThreads(shards, name: "demo-product") { shard in try self.runShard(shard, into: total) }
        return total.value
    }

    private func runShard(_ shard: Int, into total: Locked<Outcome>) throws {
        let client = LoopbackHTTPClient(port: port)
        var producedUsage = Set<Int>()
        var awaitingTopup = Set<String>()
        var pausedAccounts = Set<String>()
        var packs: [String: Int] = [:]
        var local = Outcome()
        func flushCounts() {
            total.withLock { t in
                t.produced += local.produced; t.checks += local.checks; t.allowed += local.allowed
                for (r, n) in local.paused { t.paused[r, default: 0] += n }
                t.packsBought += local.packsBought; t.resumed += local.resumed; t.accountsPaused += local.accountsPaused
            }
            local = Outcome()
        }
        for (i, r) in records.enumerated() {
            guard let key = r.key.map({ String(decoding: $0, as: UTF8.self) }) ?? (r.kind == .malformed ? "" : nil) else { continue }
            guard Self.shard(of: key, shards: shards) == shard else { continue }
            switch r.kind {
            case .usage:
                local.checks += 1
                // 503 (a partition restoring or replaying, a rebalance): asked again shortly.
                let answer = try client.served("/v1/accounts/\(key)/check?\(r.check ?? "")", token: token)
                guard answer.status == 200 else {
                    throw ServiceError("/check answered \(answer.status) for \(key): \(answer.text)")
                }
                let json = answer.json
                if json["allowed"] as? Bool == true {
                    local.allowed += 1
                    if awaitingTopup.remove(key) != nil { local.resumed += 1 }
                    try produce(r)
                    producedUsage.insert(r.usageIndex)
                    local.produced += 1
                } else {
                    let reason = json["reason"] as? String ?? "?"
                    local.paused[reason, default: 0] += 1
                    if pausedAccounts.insert(key).inserted { local.accountsPaused += 1 }
                    // The billing system's answer to a paused product: buy a pack (once per pause).
                    if reason == "no_credits" || reason == "insufficient_credits", !awaitingTopup.contains(key), Self.buysWhenOut(key),
                       packs[key, default: 0] < Self.maxPacksPerAccount, let account = Self.accountIndex(key) {
                        packs[key, default: 0] += 1
                        let time = EventTime.parse(String(Self.field(r.check ?? "", "time") ?? "")) ?? 0
                        let topup = Workload.setup(type: "credit.topup.purchased", account: account,
                                                   id: "paused-refill-\(account)-\(packs[key]!)", time: time,
                                                   data: "{\"pack\":\"pack-1000\"}")
                        try produce(topup)
                        local.produced += 1
                        local.packsBought += 1
                        awaitingTopup.insert(key)
                    }
                }
            case .duplicate:
                // A producer retry of work that was started; work that never started is not retried.
                if producedUsage.contains(r.usageIndex) {
                    try produce(r)
                    local.produced += 1
                }
            case .setup where r.isRefill:
                continue  // the gated demo buys packs when a product pauses instead
            case .setup, .malformed:
                try produce(r)
                local.produced += 1
            }
            if i % 512 == 0 { flushCounts(); _ = producer.poll() }
        }
        flushCounts()
    }

    private func produce(_ r: WorkloadRecord) throws {
        try waitForPace()
        try r.value.withUnsafeBytes { v in
            if let key = r.key {
                try key.withUnsafeBytes { k in try producer.produce(topic, key: k, value: v, timestampMs: r.timestampMs) }
            } else {
                try producer.produce(topic, key: nil, value: v, timestampMs: r.timestampMs)
            }
        }
    }

    /// Waits while the products are `pace.maxAhead` records ahead of the service.
    private func waitForPace() throws {
        func ahead() -> Int { pace.producedBefore + producedSoFar.value - Int(appliedSeen.value) }
        var waited = 0
        while ahead() >= pace.maxAhead {
            let applied = pace.applied()
            appliedSeen.withLock { $0 = max($0, applied) }
            if ahead() < pace.maxAhead { break }
            guard pace.serviceRunning() else { throw ServiceError("the service stopped while the product services were running") }
            guard waited < 60_000 else { throw ServiceError("the product services waited 60 s for the service to apply their records") }
            _ = producer.poll()
            Thread.sleep(forTimeInterval: 0.001)
            waited += 1
        }
        producedSoFar.withLock { $0 += 1 }
    }

    /// Malformed records without a key go to shard 0.
    static func shard(of key: String, shards: Int) -> Int {
        key.isEmpty ? 0 : Int(key.utf8.reduce(UInt32(5381)) { $0 &* 33 &+ UInt32($1) } % UInt32(shards))
    }

    static func accountIndex(_ key: String) -> Int? {
        key.hasPrefix("acct-") ? Int(key.dropFirst(5)) : nil
    }

    static func field(_ query: String, _ name: String) -> Substring? {
        for pair in query.split(separator: "&") where pair.hasPrefix(name + "=") { return pair.dropFirst(name.count + 1) }
        return nil
    }
}

extension LoopbackHTTPClient {
    /// One request as a product service makes it: a 503 (a partition restoring or replaying, a
    /// rebalance, a produce that failed) is asked again every 20 ms for up to 10 s, and then
    /// returned. `body` makes it a POST.
    func served(_ target: String, token: String?, body: String? = nil) throws -> Response {
        var answer: Response
        var retries = 0
        repeat {
            if retries > 0 { Thread.sleep(forTimeInterval: 0.02) }
            answer = try get(target, token: token, method: body == nil ? "GET" : "POST", body: body.map { Array($0.utf8) })
            retries += 1
        } while answer.status == 503 && retries <= 500
        return answer
    }
}
