import CreditConfig
import CreditEngine
@testable import CreditMeterHTTP
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Synchronization
import Testing

/// Contract §15 with §8: 64 product clients over real HTTP hold 10 credits, spend against the
/// hold (usage naming it, produced by the product over Kafka) and release, on one account of
/// 1,000 credits, while the real binary (`credit-meter run`, snapshots every second) is killed
/// with SIGKILL at random moments and restarted. A client whose request meets a dropped or
/// refused connection, a 503 or a 202 sends the same `hold_id` with the same body again until
/// it is answered a decision. At the end every answer, every hold with its settlement, the
/// balance and available credits equal what the pure engine decides applying the resulting
/// input log uninterrupted, and each `hold_id` is one hold.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct HoldKillTests {
    static let account = "shared"
    static let holds = "/v1/accounts/shared/holds"
    static let clients = 64
    static let rounds = 10
    static let kills = 4
    /// Each hold's credits; each round spends 1 … 5 of them (in millicredits: × 1,000).
    static let held = 10

    static func spend(client: Int, round: Int) -> Int { 1 + (client * 7 + round * 3) % 5 }

    @Test func killNineDuringConcurrentHoldsEndsLikeTheUninterruptedLog() async throws {
        let began = ContinuousClock.now
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("cm-holdkill-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: logs) }
        let broker = try await DevBroker(dir: logs, topics: ["ai.usage:2", "credit.alerts:2", "ai.usage.dlq:2", "credit.balances:2", "credit.requests:2"],
                                         commands: true)
        defer { Task { await broker.stop() } }
        let h = try ServiceHarness(partitions: 2, extraConfig: #"http: { listen: "127.0.0.1:0", hold_timeout_ms: 1000 }"#,
                                   externalBootstrap: broker.bootstrap, snapshotInterval: 1)
        // Every event of the account goes to one partition: the one the hold routes produce to.
        let partition = KeyPartitioner.partition(account: Self.account, count: 2)
        try h.produce(event("credit.topup.purchased", Self.account, id: "t1", time: Self.now(), data: #"{"credits":1000}"#),
                      key: Self.account, partition: partition)

        let floor = Floor()
        var run = 0
        var child = try await Self.start(h, logs: logs, run: run, floor: floor)
        let watcher = ProductClient(floor: floor)
        try await watcher.poll("/v1/accounts/\(Self.account)") { ($0.json["balance_credits"] as? NSNumber)?.intValue == 1000 }

        let producer = try KafkaProducer(properties: [("bootstrap.servers", h.bootstrap), ("linger.ms", "1")], logger: h.logger) { report in
            if report.error != nil { floor.deliveryErrors.add(1, ordering: .relaxed) }
        }
        let topic = producer.topic("ai.usage")
        let total = Self.clients * Self.rounds
        // The kills fall within the first `total − 2 × clients` rounds, one per step; the cap
        // never lets the rounds started before the last kill reach `total − clients / 2`.
        let step = (total - 2 * Self.clients) / Self.kills
        let ceiling = total - Self.clients / 2
        var rng = SplitMix64(seed: 20261207)
        var threshold = step / 4 + Int(rng.next() % UInt64(step / 2))
        // Rounds may start up to a little past the next kill's moment: the kills fall while
        // the clients are busy, never after they have finished.
        floor.cap.store(threshold + Self.clients, ordering: .releasing)

        let workload = Task {
            try await withThrowingTaskGroup(of: [Answer].self) { group in
                for i in 0..<Self.clients {
                    group.addTask { do {
                        let client = ProductClient(floor: floor)
                        var out: [Answer] = []
                        for round in 0..<Self.rounds {
                            let ticket = floor.started.add(1, ordering: .relaxed).oldValue
                            while ticket >= floor.cap.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(20)) }
                            let id = "c\(i)-r\(round)"
                            let (r, attempts) = try await client.decide(#"{"hold_id":"\#(id)","credits":\#(Self.held)}"#)
                            let granted = r.status == 201 || r.status == 200
                            let spend = granted ? Self.spend(client: i, round: round) : 0
                            out.append(Answer(holdID: id, status: r.status, text: r.text, attempts: attempts, spend: spend))
                            if granted {
                                let usage = Array(event("ai.usage", Self.account, id: "use-\(id)", time: Self.now(),
                                                        data: #"{"action":"chat","quantity":\#(spend),"hold_id":"\#(id)"}"#).utf8)
                                let key = Array(Self.account.utf8)
                                try key.withUnsafeBytes { k in try usage.withUnsafeBytes { v in
                                    try producer.produce(topic, partition: partition, key: k, value: v, timestampMs: Self.nowMillis()) } }
                                try await client.poll("\(Self.holds)/\(id)") { r in
                                    (r.json["settled_credits"] as? NSNumber)?.intValue == spend && r.json["status"] as? String == "active"
                                }
                                try await client.release(id)
                            }
                            floor.completed.add(1, ordering: .relaxed)
                        }
                        return out
                    } catch {
                        floor.failure.withLock { $0 = $0 ?? "client \(i): \(error)" }
                        throw error
                    } }
                }
                var all: [Answer] = []
                for try await part in group { all += part }
                return all
            }
        }
        defer { workload.cancel() }

        // Each kill: once the workload has passed a random moment and the running service has
        // made durable progress of its own (its committed offsets moved past the last run's),
        // a random instant more and a hold request in flight, then SIGKILL — with work done
        // since the last snapshot — and a new process on the same state directory. Once the
        // service is up after the second restart, the broker answers slowly (1.5 s a request,
        // longer than the service waits for a decision) until 32 hold requests were answered
        // 202: each is retried while its first event is not applied yet, so the log holds
        // repeated requests for one hold_id.
        var committedBefore = try await Self.committed(h)
        var restoredRuns = 0
        var slow = false, slowed = false
        var killedAt: [String] = []  // rounds completed and time at each kill
        for k in 0..<Self.kills {
            let deadline = ContinuousClock.now + .seconds(180)
            var durable = false
            var killAt: ContinuousClock.Instant?
            while true {
                if slow && floor.pending.load(ordering: .relaxed) >= 32 {
                    try await broker.command("rtt 1 0")
                    slow = false
                }
                let completed = floor.completed.load(ordering: .relaxed)
                if !durable && !slow { durable = try await Self.committed(h) > committedBefore }
                if k == 2 && durable && !slowed {
                    try await broker.command("rtt 1 1500")
                    slow = true
                    slowed = true
                }
                if killAt == nil && durable && !slow && completed >= threshold {
                    killAt = ContinuousClock.now + .milliseconds(Int(rng.next() % 400))
                }
                if let killAt, ContinuousClock.now >= killAt, floor.inFlight.load(ordering: .relaxed) > 0 { break }
                // Due, or slow, but clients wait for the cap and nothing is in flight: a few more
                // rounds, so that requests are in flight when the service dies or answers late.
                if killAt != nil || slow, floor.inFlight.load(ordering: .relaxed) == 0,
                   floor.started.load(ordering: .relaxed) > floor.cap.load(ordering: .relaxed),
                   floor.cap.load(ordering: .relaxed) < ceiling {
                    floor.cap.add(Self.clients / 8, ordering: .releasing)
                }
                guard completed < total else { throw TestFailure("the workload ended before kill \(k)") }
                if let failure = floor.failure.withLock({ $0 }) { throw TestFailure(failure) }
                guard child.process.isRunning else { throw TestFailure("run \(run) stopped on its own: \(child.stderr.suffix(2000))") }
                guard ContinuousClock.now < deadline else {
                    throw TestFailure("kill \(k): \(completed) of \(threshold) rounds, durable progress \(durable), slow \(slow)")
                }
                try await Task.sleep(for: .milliseconds(killAt == nil ? 50 : 1))
            }
            child.signal(SIGKILL)
            killedAt.append("\(floor.completed.load(ordering: .relaxed)) rounds at \(Int((ContinuousClock.now - began).components.seconds)) s")
            #expect(await child.wait(timeout: .seconds(30)) != nil)
            committedBefore = try await Self.committed(h)
            threshold = step * (k + 1) + step / 4 + Int(rng.next() % UInt64(step / 2))
            floor.cap.store(k == Self.kills - 1 ? .max : threshold + Self.clients, ordering: .releasing)
            run += 1
            child = try await Self.start(h, logs: logs, run: run, floor: floor)
        }
        let answers = try await workload.value
        try producer.flush(timeoutMs: 30_000)
        #expect(floor.deliveryErrors.load(ordering: .relaxed) == 0)

        // Caught up: the group's committed offsets (what a durable snapshot covers) at the end
        // of the input, and the views published.
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            let (committed, ends) = try await onOwnThread { try h.committedAndEnds() }
            if ends.allSatisfy({ $0.value == 0 || committed[$0.key] == $0.value }) { break }
            guard ContinuousClock.now < deadline, child.process.isRunning else {
                throw TestFailure("not caught up: committed \(committed), ends \(ends); \(child.stderr.suffix(1000))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        for r in 0...run where ((try? String(contentsOfFile: "\(logs)/run-\(r).err", encoding: .utf8)) ?? "").contains("restored from snapshot") {
            restoredRuns += 1
        }

        // The uninterrupted run: the pure engine on the input log as it now is.
        let records = try h.readAll("ai.usage")
        #expect(records.allSatisfy { $0.partition == partition && $0.key == Self.account })
        let reference = try HoldReference(records, config: h.config().engine)
        let refAccount = try #require(reference.ledger.account(Self.account))
        let book = try #require(refAccount.holdBook)

        // One hold per hold_id, and exactly the hold_ids the clients asked for.
        let asked = Set(answers.map(\.holdID))
        #expect(answers.count == total && asked.count == total)
        let unasked = book.holds.map(\.id).filter { !asked.contains($0) }
        #expect(book.holds.count == total && unasked.isEmpty, "\(book.holds.count) holds, \(unasked.count) for hold_ids no client asked for, e.g. \(unasked.prefix(5))")
        #expect(reference.firstDecision.count == total && asked.allSatisfy { reference.firstDecision[$0] != nil })

        // Every answer is the log's first decision on its hold_id. A first attempt is never a
        // repeat, so its answer is exact, available credits included; a retried one may be
        // answered as a repeat: then with the available credits of its moment.
        var mismatches: [String] = []
        for a in answers {
            guard let (hold, available) = reference.firstDecision[a.holdID] else { continue }
            let expected = Self.decision(hold, available: available)
            let status = hold.denial.map { a.status == $0.httpStatus } ?? (a.status == 201 || (a.status == 200 && a.attempts > 1))
            let exact = a.attempts == 1 || a.status == 201
            let same = exact ? a.text == expected : Self.withoutAvailable(a.text) == Self.withoutAvailable(expected)
            if !status || !same {
                mismatches.append("\(a.holdID) (\(a.attempts) attempts): answered \(a.status) \(a.text), the log decided \(expected)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) answers differ from the log's decisions, e.g. \(mismatches.prefix(3))")
        // Each grant fit in what was available when decided; each denial did not.
        let decisions = reference.firstDecision.values
        #expect(decisions.allSatisfy { $0.hold.denial != nil || $0.available >= 0 })
        #expect(decisions.allSatisfy { $0.hold.denial != .insufficientCredits || $0.available < Int64(Self.held) * 1000 })
        #expect(decisions.allSatisfy { $0.hold.denial == nil || $0.hold.denial == .insufficientCredits })
        let granted = answers.filter { $0.status == 201 || $0.status == 200 }
        #expect(!granted.isEmpty && granted.count < total, "granted \(granted.count) of \(total)")

        // The views are published on the loop's cadence: waited for (the last usage settled).
        try await watcher.poll("/v1/accounts/\(Self.account)") { Self.number("balance_credits", in: $0.text) == Self.credits(refAccount.balance) }

        // The service's holds read back: each the reference's, settled with what its client spent.
        var differing: [String] = []
        for hold in book.holds {
            let r = try await watcher.answer("\(Self.holds)/\(hold.id)")
            let expected = String(decoding: API.holdJSON(hold), as: UTF8.self)
            if r.status != 200 || r.text != expected { differing.append("\(hold.id): \(r.status) \(r.text)\n expected \(expected)") }
        }
        #expect(differing.isEmpty, "\(differing.count) holds differ from the uninterrupted run's, e.g. \(differing.prefix(3))")
        let spent = Dictionary(uniqueKeysWithValues: answers.map { ($0.holdID, Int64($0.spend) * 1000) })
        #expect(book.holds.allSatisfy { $0.denial != nil ? $0.status == .denied : $0.status == .released && $0.settled == spent[$0.id] })

        // The balance: exactly 1,000 − Σ usage, never below 0, and what the service says.
        let usage = granted.reduce(0) { $0 + Int64($1.spend) } * 1000
        #expect(refAccount.balance == 1_000_000 - usage && refAccount.balance >= 0)
        #expect(refAccount.availableCredits == refAccount.balance && book.activeCount == 0)
        let doc = try await watcher.answer("/v1/accounts/\(Self.account)").text
        #expect(Self.number("balance_credits", in: doc) == Self.credits(refAccount.balance), "\(doc)")
        #expect(Self.number("available_credits", in: doc) == Self.credits(refAccount.availableCredits), "\(doc)")

        // The same, durably: the snapshot of a clean stop holds the reference's hold book and document.
        child.signal(SIGTERM)
        #expect(await child.wait(timeout: .seconds(60)) == 0, "stderr: \(child.stderr.suffix(2000))")
        let restored = try #require(try SnapshotInspector.load(h.dir + "/snapshots").first { $0.ledger.account(Self.account) != nil })
        #expect(restored.ledger.audit().isClean)
        #expect(restored.ledger.account(Self.account)?.holdBook == book)
        let index = try #require(restored.ledger.accountIndex(Self.account))
        #expect(restored.ledger.accountDocument(index) == reference.ledger.accountDocument(try #require(reference.ledger.accountIndex(Self.account))))

        // The corners the test claims it reached.
        let retried = answers.filter { $0.attempts > 1 }
        let repeatedInLog = reference.requests.values.filter { $0 > 1 }.count
        let dropped = floor.dropped.load(ordering: .relaxed)
        #expect(run == Self.kills && restoredRuns >= Self.kills, "\(run) kills, \(restoredRuns) restored runs")
        #expect(dropped >= 1, "no hold request met a dropped connection")
        #expect(floor.unavailable.load(ordering: .relaxed) >= 1, "no hold request met a 503 (a restarted instance not ready)")
        #expect(!retried.isEmpty && floor.pending.load(ordering: .relaxed) >= 32)
        // A retry produced again whatever its first request's fate: the engine kept one hold
        // for each such hold_id and answered it with the first decision.
        #expect(repeatedInLog >= 1 && reference.repeatsApplied >= repeatedInLog, "\(repeatedInLog) hold_ids requested more than once in the log")
        print("""
            hold kill -9 test: \(run) kills (\(killedAt.joined(separator: ", ")); \(restoredRuns) runs restored from a snapshot), \(total) holds by \(Self.clients) clients: \
            \(granted.count) granted, \(total - granted.count) denied; balance \(Self.credits(refAccount.balance)) after \(usage / 1000) credits of usage; \
            retries: \(retried.count) hold_ids retried, \(dropped) dropped and \(floor.refused.load(ordering: .relaxed)) refused connections, \
            \(floor.unavailable.load(ordering: .relaxed)) × 503, \(floor.pending.load(ordering: .relaxed)) × 202, \
            \(answers.filter { $0.status == 200 }.count) answered as repeats (200); \(repeatedInLog) hold_ids requested more than once \
            in the log (\(reference.repeatsApplied) repeats applied); \(records.count) input records; \
            \(Int((ContinuousClock.now - began).components.seconds)) s
            """)
    }

    // MARK: Helpers

    /// What one client was answered for one hold_id, after how many requests.
    struct Answer: Sendable {
        var holdID: String
        var status: Int
        var text: String
        var attempts: Int
        /// Credits the client spent against the hold (0 when denied).
        var spend: Int
    }

    /// Starts `credit-meter run` and tells the clients its port once it listens.
    static func start(_ h: ServiceHarness, logs: String, run: Int, floor: Floor) async throws -> Child {
        let child = try Child(["run", "--config", h.configPath], logDir: logs, name: "run-\(run)", environment: ["CREDIT_METER_LOG_LEVEL": "info"])
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            if let port = child.httpPort {
                floor.port.store(port, ordering: .releasing)
                return child
            }
            guard child.process.isRunning, ContinuousClock.now < deadline else {
                throw TestFailure("run \(run) did not listen: \(child.stderr.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Σ of the group's committed offsets on the input.
    static func committed(_ h: ServiceHarness) async throws -> Int64 {
        try await onOwnThread { try h.committedAndEnds().committed.values.reduce(0) { $0 + max($1, 0) } }
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The wall clock as an event `time`: the service's own clock stamps the hold requests.
    static func now() -> String {
        var w = JSONWriter(capacity: 32)
        w.time(nowMillis() * 1_000_000)
        return String(w.string.dropFirst().dropLast())
    }

    static func credits(_ mc: Int64) -> String {
        var w = JSONWriter(capacity: 24)
        w.credits(mc)
        return w.string
    }

    /// The raw number of the member `name` in a JSON text.
    static func number(_ name: String, in text: String) -> String? {
        guard let start = text.range(of: "\"\(name)\":")?.upperBound else { return nil }
        return String(text[start...].prefix { $0 == "-" || $0 == "." || $0.isNumber })
    }

    /// The answer to the request that decided `hold` (§15), with the available credits after it.
    static func decision(_ hold: Hold, available: Int64) -> String {
        var w = JSONWriter(capacity: 160)
        w.beginObject()
        if let denial = hold.denial {
            w.key("error"); w.string(denial.name)
            w.key("hold_id"); w.string(hold.id)
            w.key("status"); w.string("denied")
            w.key("available_credits"); w.credits(available)
        } else {
            w.key("hold_id"); w.string(hold.id)
            w.key("status"); w.string("active")
            w.key("held_credits"); w.credits(hold.held)
            w.key("available_credits"); w.credits(available)
            w.key("expires_at"); w.time(hold.expiresAt)
        }
        w.endObject()
        return w.string
    }

    /// A decision's text with its available credits left out (a repeat carries the current ones).
    static func withoutAvailable(_ text: String) -> String {
        text.replacing(/"available_credits":-?[0-9.]+/, with: #""available_credits":_"#)
    }
}

extension HoldKillTests {
/// What the clients share with the test: where the service listens now, how many rounds may
/// start, and what their requests met.
final class Floor: Sendable {
    let port = Atomic<Int>(0)
    let started = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    /// Rounds allowed to start (raised by the test after each kill).
    let cap = Atomic<Int>(0)
    /// Hold requests that met a dropped connection (sent, no answer), a refused one, a 503, a 202.
    let dropped = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    let unavailable = Atomic<Int>(0)
    let pending = Atomic<Int>(0)
    let deliveryErrors = Atomic<Int>(0)
    /// The first error a client met (the test stops at once instead of waiting for its rounds).
    let failure = Mutex<String?>(nil)
    /// Hold requests sent and not answered yet.
    let inFlight = Atomic<Int>(0)
}

/// One product client: a connection of its own to wherever the service listens now.
final class ProductClient: @unchecked Sendable {  // used by one task at a time
    let floor: Floor
    private var http: LoopbackHTTPClient?

    init(floor: Floor) { self.floor = floor }

    enum Outcome {
        case answered(LoopbackHTTPClient.Response)
        /// Sent, and the connection went before an answer (or none came in time).
        case dropped
        /// Nothing listens at the port.
        case refused
    }

    func send(_ target: String, post body: String? = nil) async -> Outcome {
        let port = floor.port.load(ordering: .acquiring)
        if http?.port != port { http = LoopbackHTTPClient(port: port) }
        do {
            return .answered(try await http!.request(target, method: body == nil ? "GET" : "POST", body: body.map { Array($0.utf8) }))
        } catch let failure as LoopbackHTTPClient.Failure where failure.description.hasPrefix("connect to") {
            return .refused
        } catch {
            return .dropped
        }
    }

    /// POSTs a hold request until it is answered a decision (201, 200, 402, 422): the same
    /// body again after a dropped or refused connection, a 503 or a 202.
    func decide(_ body: String) async throws -> (LoopbackHTTPClient.Response, attempts: Int) {
        var attempts = 0
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            attempts += 1
            floor.inFlight.add(1, ordering: .relaxed)
            let outcome = await send(HoldKillTests.holds, post: body)
            floor.inFlight.subtract(1, ordering: .relaxed)
            switch outcome {
            case .dropped:
                floor.dropped.add(1, ordering: .relaxed)
            case .refused:
                floor.refused.add(1, ordering: .relaxed)
                try await Task.sleep(for: .milliseconds(50))
            case .answered(let r) where [200, 201, 402, 422].contains(r.status):
                return (r, attempts)
            case .answered(let r) where r.status == 202:
                floor.pending.add(1, ordering: .relaxed)
            case .answered(let r) where r.status == 503:
                floor.unavailable.add(1, ordering: .relaxed)
                try await Task.sleep(for: .milliseconds(50))
            case .answered(let r):
                throw TestFailure("hold \(body): \(r.status) \(r.text)")
            }
        }
        throw TestFailure("hold \(body): no decision in 180 s")
    }

    /// Releases a hold, again after a failed attempt, until answered with the released hold.
    func release(_ id: String) async throws {
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            if case .answered(let r) = await send("\(HoldKillTests.holds)/\(id)/release", post: "") {
                if r.status == 200 && r.json["status"] as? String == "released" { return }
                guard Self.notYet(r) else { throw TestFailure("release \(id): \(r.status) \(r.text)") }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("release \(id): not released in 180 s")
    }

    /// GETs `target` until `condition` holds for a 200 answer.
    func poll(_ target: String, _ condition: (LoopbackHTTPClient.Response) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(180)
        var last = "no answer"
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            if case .answered(let r) = await send(target) {
                if r.status == 200 && condition(r) { return }
                guard r.status == 200 || Self.notYet(r) else { throw TestFailure("\(target): \(r.status) \(r.text)") }
                last = "\(r.status) \(r.text)"
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("\(target): not as expected in 180 s; last answer \(last)")
    }

    /// The answer to GET `target` (the service is up and caught up).
    func answer(_ target: String) async throws -> LoopbackHTTPClient.Response {
        guard case .answered(let r) = await send(target) else { throw TestFailure("\(target): no answer") }
        return r
    }

    /// An answer that says "not here yet": a restarted instance before its partitions are
    /// assigned (404 without state), replaying (503), or a change not applied in time (202).
    static func notYet(_ r: LoopbackHTTPClient.Response) -> Bool {
        r.status == 503 || r.status == 202 || (r.status == 404 && r.text == #"{"error":"no state for this account on this instance"}"#)
    }
}

/// The pure engine on the input log, in log order and uninterrupted: each `hold_id`'s first
/// decision with the available credits after it, the hold requests per `hold_id`, and the
/// ledger at the end.
struct HoldReference {
    var firstDecision: [String: (hold: Hold, available: Int64)] = [:]
    var requests: [String: Int] = [:]
    /// Requests applied as repeats of a decided `hold_id`.
    var repeatsApplied = 0
    let ledger: PartitionLedger

    init(_ records: [ServiceHarness.Record], config: EngineConfiguration) throws {
        ledger = PartitionLedger(config: config)
        let decoder = EventDecoder()
        for r in records.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            let time = try #require(r.timestampMs) * 1_000_000
            let key = Array((r.key ?? "").utf8)
            let result: ApplyResult? = Array(r.value.utf8).withUnsafeBytes { v in
                guard let e = try? decoder.decode(v) else { return nil }
                return key.withUnsafeBytes { ledger.apply(e, key: $0, recordTime: time) }
            }
            guard let report = result?.hold, report.type == .holdRequested else { continue }
            requests[report.holdID, default: 0] += 1
            if report.repeated {
                repeatsApplied += 1
            } else if let hold = report.hold, let available = report.available {
                firstDecision[report.holdID] = (hold, available)
            }
        }
    }
}
}
