import CreditConfig
import CreditEngine
@testable import CreditMeterHTTP
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Synchronization
import Testing

/// Holds (contract §15) across several instances of one group (§13): `credit-meter run`
/// processes with snapshot folders of their own and the state topic, against a mock cluster in
/// its own process, on their real wall clocks. Clients ask for holds over HTTP at any instance
/// (following the redirect to the owner), spend against them with usage naming them, release
/// some and leave the rest to expire — by a later event of the account or by the owner's
/// `credit.hold.expired` — while instances start, are killed and leave. Whatever moved, the
/// holds, decisions, expiries, balances and available credits equal those of one ledger per
/// partition applying the input topic as it ends up, from offset 0, uninterrupted.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct HoldSeveralInstancesTests {
    static let partitions: Int32 = 8
    static let accounts = (0..<24).map { "holder-\($0)" }

    /// What one instance does to the group while a wave of holds is open.
    enum Move: CustomStringConvertible {
        case start(String), kill(String), stop(String)
        var description: String {
            switch self {
            case .start(let n): "start \(n)"
            case .kill(let n): "kill -9 \(n)"
            case .stop(let n): "stop \(n)"
            }
        }
    }

    /// The instances of one group, each a `credit-meter run` with its own snapshot folder and a
    /// fixed HTTP port it advertises for redirects.
    final class Instances: @unchecked Sendable {
        let logs: String
        private let configs: [String: String]
        let ports: [String: Int]
        private let running = Mutex<[String: Child]>([:])
        /// Every process started, in order (their logs are counted at the end).
        private let started = Mutex<[(name: String, child: Child)]>([])
        /// Answers to POSTs (hold requests, releases) that sent the client elsewhere (307) or
        /// made it ask again (503, 202, no connection).
        let redirects = Atomic<Int>(0), retries = Atomic<Int>(0)

        init(_ names: [String], harness h: ServiceHarness, logs: String) throws {
            self.logs = logs
            let base = try String(contentsOfFile: h.configPath, encoding: .utf8)
            var configs: [String: String] = [:], ports: [String: Int] = [:]
            for name in names {
                let taken = try FirstHourTests.TakenPort()
                let port = taken.port
                taken.release()
                let path = "\(h.dir)/instance-\(name).yaml"
                try base.replacingOccurrences(of: "\(h.dir)/snapshots,", with: "\(h.dir)/snapshots-\(name),")
                    .replacingOccurrences(of: "http: { listen: \"127.0.0.1:0\" }",
                                          with: "http: { listen: \"127.0.0.1:\(port)\", advertised_url: \"http://127.0.0.1:\(port)\" }")
                    .write(toFile: path, atomically: true, encoding: .utf8)
                configs[name] = path
                ports[name] = port
            }
            self.configs = configs
            self.ports = ports
        }

        func start(_ name: String) throws {
            let n = started.withLock { $0.count }
            let child = try Child(["run", "--config", configs[name]!], logDir: logs, name: "run-\(name)-\(n)",
                                  environment: ["CREDIT_METER_LOG_LEVEL": "info"])
            started.withLock { $0.append((name, child)) }
            running.withLock { $0[name] = child }
        }

        func kill(_ name: String) async throws {
            guard let child = running.withLock({ $0.removeValue(forKey: name) }) else { throw TestFailure("\(name) is not running") }
            child.signal(SIGKILL)
            _ = await child.wait(timeout: .seconds(10))
        }

        func stop(_ name: String) async throws {
            guard let child = running.withLock({ $0.removeValue(forKey: name) }) else { throw TestFailure("\(name) is not running") }
            child.signal(SIGTERM)
            let status = await child.wait(timeout: .seconds(90))
            #expect(status == 0, "\(name) stopped with \(String(describing: status)): \(child.stderr.suffix(2000))")
        }

        func perform(_ move: Move) async throws {
            switch move {
            case .start(let n): try start(n)
            case .kill(let n): try await kill(n)
            case .stop(let n): try await stop(n)
            }
        }

        var livePorts: [Int] { running.withLock { $0.keys.sorted().map { ports[$0]! } } }
        var liveNames: [String] { running.withLock { $0.keys.sorted() } }
        var everyProcess: [(name: String, child: Child)] { started.withLock { $0 } }

        /// Sends `method target` until an answer `done` accepts: a 307 is followed to the owner
        /// once; a 503 (the owner moving, restoring or unknown), a 202 (not decided in time), a
        /// refused or dropped connection and a redirect that found the owner gone start again at
        /// a live instance, with the same request (every route the tests call is safe to repeat).
        /// `polling`: any other answer is asked again too (waiting for the service to get there).
        /// At least one attempt is made, however late.
        func call(_ method: String, _ target: String, body: String? = nil, until deadline: ContinuousClock.Instant? = nil,
                  polling: Bool = false, done: (LoopbackHTTPClient.Response) -> Bool) throws -> LoopbackHTTPClient.Response {
            let deadline = deadline ?? ContinuousClock.now + .seconds(120)
            var next: (port: Int, target: String)?
            var last = "nothing"
            repeat {
                let (port, path) = next ?? (livePorts.randomElement() ?? 0, target)
                next = nil
                let client = LoopbackHTTPClient(port: port)
                defer { client.disconnect() }
                do {
                    let r = try client.get(path, method: method, body: body.map { Array($0.utf8) })
                    if done(r) { return r }
                    last = "\(r.status) \(r.text.prefix(300))"
                    if r.status == 307, let location = r.headers["location"],
                       let m = location.firstMatch(of: /^http:\/\/127\.0\.0\.1:(\d+)(\/.*)$/) {
                        next = (Int(m.1)!, String(m.2))
                        if method == "POST" { redirects.add(1, ordering: .relaxed) }
                        continue
                    }
                    guard polling || r.status == 503 || r.status == 202 || r.status == 307 else {
                        throw TestFailure("\(method) \(path): \(last)")
                    }
                } catch let failure as LoopbackHTTPClient.Failure {
                    last = "port \(port): \(failure)"
                }
                if method == "POST" { retries.add(1, ordering: .relaxed) }
                Thread.sleep(forTimeInterval: 0.05)
            } while ContinuousClock.now < deadline || next != nil
            throw TestFailure("\(method) \(target) never answered as expected; last: \(last)")
        }
    }

    /// A hold request and the decision its client was finally answered.
    struct Answer: Sendable {
        var account: String
        var holdID: String
        var status: Int
        var json: [String: String]
        var text: String
    }

    /// The kinds of hold a wave asks for, by what ends them.
    enum Kind: Int, CaseIterable {
        /// Spent against, then released.
        case settledReleased
        /// Left to expire: the owner's `credit.hold.expired` ends it, unless a later event of the
        /// account (the next wave's request) comes first.
        case expiresByRecord
        /// Spent against, then left to expire as above.
        case settledExpires
        /// A later event of the account, timed past `expires_at`, ends it first.
        case expiresByEvent
        /// More than the account has.
        case denied
        /// Released before anything is spent.
        case released
    }

    static func now() -> String { EventTime.format(systemWallClock()) }

    /// One client's holds in one wave, on a thread of its own (synchronous HTTP and produces).
    static func wave(_ w: Int, account: String, index i: Int, instances: Instances, harness h: ServiceHarness) throws -> [Answer] {
        var answers: [Answer] = []
        for slot in 0..<2 {
            let kind = Kind(rawValue: (w + i + slot * 3) % Kind.allCases.count)!
            let id = "w\(w)-\(slot)-\(kind)"
            let ttl: Int, credits: Int
            switch kind {
            case .settledReleased, .released: (ttl, credits) = (120, 30)
            case .expiresByRecord: (ttl, credits) = (1 + i % 3, 20)
            case .settledExpires: (ttl, credits) = (2 + i % 2, 20)
            case .expiresByEvent: (ttl, credits) = (2, 10)
            case .denied: (ttl, credits) = (60, 1_000_000)
            }
            let body = #"{"hold_id":"\#(id)","credits":\#(credits),"ttl_seconds":\#(ttl),"workflow":"wave-\#(w)"}"#
            let r = try instances.call("POST", "/v1/accounts/\(account)/holds", body: body) { [200, 201, 402, 422].contains($0.status) }
            var fields: [String: String] = [:]
            for (k, v) in r.json { fields[k] = "\(v)" }
            answers.append(Answer(account: account, holdID: id, status: r.status, json: fields, text: r.text))
            guard r.status == 201 || r.status == 200 else { continue }
            switch kind {
            case .settledReleased, .settledExpires:
                try h.produce(event("ai.usage", account, id: "use-\(id)", time: now(), data: #"{"action":"chat","quantity":2,"hold_id":"\#(id)"}"#),
                              key: account)
                if kind == .settledReleased {
                    _ = try instances.call("POST", "/v1/accounts/\(account)/holds/\(id)/release") { $0.status == 200 }
                }
            case .expiresByEvent:
                let expiresAt = try #require(EventTime.parse(fields["expires_at"] ?? ""))
                try h.produce(event("ai.usage", account, id: "late-\(id)", time: EventTime.format(expiresAt + 1_000_000_000),
                                    data: #"{"action":"chat"}"#), key: account)
            case .released:
                _ = try instances.call("POST", "/v1/accounts/\(account)/holds/\(id)/release") { $0.status == 200 }
            case .expiresByRecord, .denied:
                break
            }
        }
        return answers
    }

    /// The uninterrupted run: one ledger per partition applying the input topic from offset 0,
    /// with how each hold ended and how many holds each partition had open before each offset.
    struct Replay {
        var ledgers: [Int32: PartitionLedger] = [:]
        /// Holds ended by an owner's `credit.hold.expired`, and by another later event of the account.
        var expiredByRecord = 0, expiredByEvent = 0
        /// Expiry records applied, and those that were duplicates (a second owner's copy).
        var expiryRecordsApplied = 0, expiryRecordsDuplicate = 0
        /// "account/hold_id" → the account's available credits after the request that decided it.
        var decidedAvailable: [String: Int64] = [:]
        /// partition → offset → active holds of the partition before that offset.
        var openBefore: [Int32: [Int64: Int]] = [:]
        let partitions: Int32

        init(_ records: [ServiceHarness.Record], config: EngineConfiguration, partitions: Int32) throws {
            self.partitions = partitions
            let decoder = EventDecoder()
            var open: [Int32: Int] = [:]
            for r in records {
                let ledger = ledgers[r.partition] ?? PartitionLedger(config: config)
                ledgers[r.partition] = ledger
                openBefore[r.partition, default: [:]][r.offset] = open[r.partition] ?? 0
                let account = r.key ?? ""
                let before = ledger.account(account)?.holdBook
                let value = Array(r.value.utf8), key = Array(account.utf8)
                let result: ApplyResult = try value.withUnsafeBytes { v in
                    let e = try decoder.decode(v)
                    return key.withUnsafeBytes { ledger.apply(e, key: $0, recordTime: r.timestampMs.map { $0 * 1_000_000 }) }
                }
                if let report = result.hold, report.type == .holdRequested, !report.repeated, let available = report.available {
                    decidedAvailable["\(account)/\(report.holdID)"] = available
                }
                let isExpiry = r.json["type"] as? String == "credit.hold.expired"
                if isExpiry { if result.outcome == .duplicate { expiryRecordsDuplicate += 1 } else { expiryRecordsApplied += 1 } }
                let after = ledger.account(account)?.holdBook
                let ended = (before?.holds ?? []).filter { h in h.isActive && after?.hold(h.id)?.status == .expired }.count
                if isExpiry { expiredByRecord += ended } else { expiredByEvent += ended }
                open[r.partition, default: 0] += (after?.activeCount ?? 0) - (before?.activeCount ?? 0)
            }
        }

        func book(_ account: String) -> HoldBook? {
            ledgers[KeyPartitioner.partition(account: account, count: partitions)]?.account(account)?.holdBook
        }

        func document(_ account: String) -> String? {
            guard let l = ledgers[KeyPartitioner.partition(account: account, count: partitions)],
                  let i = l.accountIndex(account) else { return nil }
            return String(decoding: l.accountDocument(i), as: UTF8.self)
        }
    }

    static let moves: [Int: [Move]] = [
        2: [.start("b"), .kill("a"), .start("a"), .stop("b"), .start("b")],
        3: [.start("b"), .start("c"), .kill("b"), .stop("a"), .start("b"), .kill("c"), .start("a")],
    ]

    @Test(arguments: [2, 3])
    func holdsDecisionsAndExpiriesEqualOneInstanceWhilePartitionsMove(instances count: Int) async throws {
        let started = ContinuousClock.now
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("cm-hold-several-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let broker = try await DevBroker(dir: logs, topics: ["ai.usage:\(Self.partitions)", "credit.alerts:2", "ai.usage.dlq:2",
                                                             "credit.balances:2", "credit.requests:2", "credit.state:\(Self.partitions)"])
        defer { Task { await broker.stop() } }
        let h = try ServiceHarness(partitions: Self.partitions, externalBootstrap: broker.bootstrap, snapshotInterval: 1, stateTopic: true)
        let names = Array(["a", "b", "c"].prefix(count))
        let instances = try Instances(names, harness: h, logs: logs)

        // Every account has 1,000 credits.
        for a in Self.accounts {
            try h.produce(event("credit.topup.purchased", a, id: "top-\(a)", time: Self.now(), data: #"{"credits":1000}"#), key: a)
        }
        try instances.start("a")
        for a in Self.accounts {
            _ = try await onOwnThread { try instances.call("GET", "/v1/accounts/\(a)", polling: true) { $0.status == 200 } }
        }

        // Each wave of holds is open while one instance starts, is killed or leaves.
        var answers: [Answer] = []
        for (w, move) in Self.moves[count]!.enumerated() {
            let wave = Task {
                try await withThrowingTaskGroup(of: [Answer].self) { group in
                    for (i, a) in Self.accounts.enumerated() {
                        group.addTask { try await onOwnThread { try Self.wave(w, account: a, index: i, instances: instances, harness: h) } }
                    }
                    var all: [Answer] = []
                    for try await part in group { all += part }
                    return all
                }
            }
            try await instances.perform(move)
            answers += try await wave.value
        }

        // Caught up: no hold is open any more (the short ones expired, by a later event or by
        // the owner's record), then the live instances answer exactly as the replay of the
        // input topic as it now is. One deadline for every account: a mismatch fails in minutes.
        let settled = ContinuousClock.now + .seconds(120)
        for a in Self.accounts {
            _ = try await onOwnThread {
                try instances.call("GET", "/v1/accounts/\(a)/holds?status=active", until: settled, polling: true) { r in
                    r.status == 200 && (r.json["holds"] as? [Any])?.isEmpty == true
                }
            }
        }
        let input = try h.readAll("ai.usage")
        let config = try h.config()
        let replay = try Replay(input, config: config.engine, partitions: Self.partitions)
        let deadline = ContinuousClock.now + .seconds(120)
        for a in Self.accounts {
            let book = try #require(replay.book(a))
            let holds = "{\"account\":\"\(a)\",\"holds\":[" + book.holds.reversed().map { String(decoding: API.holdJSON($0), as: UTF8.self) }
                .joined(separator: ",") + "],\"next\":null}"
            let document = try #require(replay.document(a))
            do {
                _ = try await onOwnThread { try instances.call("GET", "/v1/accounts/\(a)/holds", until: deadline, polling: true) { $0.text == holds } }
                _ = try await onOwnThread { try instances.call("GET", "/v1/accounts/\(a)", until: deadline, polling: true) { $0.text == document } }
            } catch {
                Issue.record("\(a): \(error)\nexpected holds \(holds)\nexpected document \(document)")
            }
        }

        // Every answer a client was given is the log's decision for that hold.
        #expect(answers.count == Self.accounts.count * 2 * Self.moves[count]!.count)
        for answer in answers {
            let hold = try #require(replay.book(answer.account)?.hold(answer.holdID), "\(answer.account)/\(answer.holdID)")
            if let denial = hold.denial {
                #expect(answer.status == denial.httpStatus && answer.json["error"] == denial.name && answer.json["status"] == "denied",
                        "\(answer.account)/\(answer.holdID): \(answer) vs \(hold)")
            } else {
                #expect((answer.status == 201 || answer.status == 200) && answer.json["status"] == "active"
                        && answer.json["held_credits"] == "\(hold.held / 1000)" && answer.json["expires_at"] == EventTime.format(hold.expiresAt),
                        "\(answer.account)/\(answer.holdID): \(answer) vs \(hold)")
            }
            // A 201 is the decision itself (a repeat answers 200): with the available credits it left.
            if answer.status == 201 {
                #expect(HoldKillTests.number("available_credits", in: answer.text)
                        == replay.decidedAvailable["\(answer.account)/\(answer.holdID)"].map(HoldKillTests.credits),
                        "\(answer.account)/\(answer.holdID): \(answer.text)")
            }
        }

        // The last instances leave cleanly; their checkpoints in the state topic equal the replay:
        // every hold book, account document and hold counter.
        let last = instances.liveNames
        for name in last { try await instances.stop(name) }
        let tps = (0..<Self.partitions).map { TopicPartition("ai.usage", $0) }
        let checkpoints = try StateTopic.checkpoints(config, bootstrap: h.bootstrap, partitions: tps, logger: h.logger)
        #expect(checkpoints.count == Int(Self.partitions))
        for (tp, checkpoint) in checkpoints {
            let reference = try #require(replay.ledgers[tp.partition])
            let (c, r) = (checkpoint.ledger.counters, reference.counters)
            #expect([c.holdsGranted, c.holdsDenied, c.holdsReleased, c.holdsExpired, c.usageUnheld]
                    == [r.holdsGranted, r.holdsDenied, r.holdsReleased, r.holdsExpired, r.usageUnheld], "\(tp)")
            for i in 0..<reference.accountCount {
                let a = reference.accountID(i)
                #expect(checkpoint.ledger.account(a)?.holdBook == reference.account(a)?.holdBook, "\(a)")
                #expect(checkpoint.ledger.accountIndex(a).map { String(decoding: checkpoint.ledger.accountDocument($0), as: UTF8.self) }
                        == String(decoding: reference.accountDocument(i), as: UTF8.self), "\(a)")
            }
        }

        // The corners were reached: partitions restored by a new owner with holds open, holds
        // expired both ways, expiry records written by owners.
        var restores = 0, restoresWithOpenHolds = 0
        for (_, child) in instances.everyProcess {
            for line in child.stderr.split(separator: "\n") {
                guard line.contains("restored from") || line.contains("starting from the beginning"),
                      let m = line.firstMatch(of: /partition=ai\.usage\/(\d+)/) else { continue }
                restores += 1
                let offset = line.firstMatch(of: /next_offset=(\d+)/).map { Int64($0.1)! } ?? 0
                if (replay.openBefore[Int32(m.1)!]?[offset] ?? 0) > 0 { restoresWithOpenHolds += 1 }
            }
        }
        let expiryRecords = input.filter { $0.json["type"] as? String == "credit.hold.expired" }
        let granted = replay.ledgers.values.reduce(0) { $0 + $1.counters.holdsGranted }
        let denied = replay.ledgers.values.reduce(0) { $0 + $1.counters.holdsDenied }
        let released = replay.ledgers.values.reduce(0) { $0 + $1.counters.holdsReleased }
        let spent = Self.accounts.reduce(0) { n, a in n + (replay.book(a)?.holds.filter { $0.settled > 0 }.count ?? 0) }
        print("holds across \(count) instances (\(Self.moves[count]!.map(\.description).joined(separator: ", "))): "
              + "\(answers.count) requested over HTTP, \(granted) granted, \(denied) denied, \(spent) spent against, \(released) released, "
              + "\(replay.expiredByRecord) expired by the owner's record, \(replay.expiredByEvent) by a later event; "
              + "\(expiryRecords.count) expiry records (\(replay.expiryRecordsDuplicate) duplicates); "
              + "\(restores) partition restores, \(restoresWithOpenHolds) with holds open; "
              + "POSTs \(instances.redirects.load(ordering: .relaxed)) times redirected, \(instances.retries.load(ordering: .relaxed)) times asked again; "
              + "\(input.count) input records; \(ContinuousClock.now - started)")
        #expect(replay.expiredByRecord > 0 && replay.expiredByEvent > 0 && spent > 0)
        #expect(restoresWithOpenHolds > 0 && instances.redirects.load(ordering: .relaxed) > 0)
        #expect(expiryRecords.allSatisfy { $0.json["source"] as? String == "credit-meter" })
    }

    /// A wall clock that shows what the test last set; `arm` sets it and makes the first read
    /// of the new time wait until `open` — so an instance's expiry pass can be held between
    /// reading the clock and looking at the partitions it holds.
    final class GatedClock: Sendable {
        private struct State { var time: Int64; var armed = false; var waiting = false }
        private let state: Mutex<State>
        init(_ text: String) { state = Mutex(State(time: EventTime.parse(text)!)) }
        func arm(_ text: String) { let t = EventTime.parse(text)!; state.withLock { $0.time = t; $0.armed = true } }
        func open() { state.withLock { $0.waiting = false } }
        var isWaiting: Bool { state.withLock { $0.waiting } }
        var now: WallClock {
            { [self] in
                let waits = state.withLock { s in
                    guard s.armed else { return false }
                    s.armed = false
                    s.waiting = true
                    return true
                }
                while waits && state.withLock({ $0.waiting }) { usleep(1000) }
                return state.withLock { $0.time }
            }
        }
    }

    /// An expiry produced by two owners applies once (§15). A owns both partitions with a hold
    /// open on each; its loop stops, holding the time past the holds' `expires_at`, inside its
    /// expiry pass — after reading the clock, before looking at the partitions it holds, as a
    /// process paused by the machine would. The group gives its partitions to B (A polls no
    /// more), which restores them from the state topic and expires the holds by its own records.
    /// Then A's pass goes on with the partitions it still believes it holds and writes the same
    /// expiries. Each id is twice in the input; the first copy ends the hold, the second is a
    /// duplicate (same source and id, §5): one expiry counted, the hold and the balance as one
    /// ledger applying the input has them.
    @Test func anExpiryProducedByTwoOwnersAppliesOnce() async throws {
        let started = ContinuousClock.now
        // A loop that polls no more loses its partitions after 7 s (the service's default is 5 min;
        // every client the service makes takes the properties, and librdkafka wants the session
        // timeout no longer than the poll interval).
        let h = try ServiceHarness(partitions: 2, stateTopic: true,
                                   kafkaProperties: ["max.poll.interval.ms": "7000", "session.timeout.ms": "6000"])
        let accounts = ["acme", try #require((0..<100).map { "acct-\($0)" }.first {
            KeyPartitioner.partition(account: $0, count: 2) != KeyPartitioner.partition(account: "acme", count: 2)
        })]
        for a in accounts {
            try h.produce(event("credit.plan.assigned", a, id: "p-\(a)", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#), key: a)
            try h.produce(HoldExpiryServiceTests.request(a, "h", credits: 50, ttl: 600, at: "2026-11-01T00:00:00Z"), key: a)  // expires 00:10:00
            try h.produce(event("ai.usage", a, id: "u-\(a)", time: "2026-11-01T00:01:00Z", data: #"{"action":"chat","hold_id":"h"}"#), key: a)
        }
        typealias Running = HoldExpiryServiceTests.Running
        let clockA = GatedClock("2026-11-01T00:05:00Z")
        let a = Running(try HoldExpiryServiceTests.instanceConfig(h, "a"), wallClock: clockA.now, logger: h.logger)
        try await a.until("A applied the holds and checkpointed them", seconds: 60) {
            a.service.status.processed == 6 && accounts.allSatisfy { a.hold($0, "h")?.settled == 1_000 }
                && (try? h.committedAndEnds()).map { $0.committed == $0.ends } == true
        }
        clockA.arm("2026-11-01T00:10:00Z")
        try await a.until("A's expiry pass waits for the time") { clockA.isWaiting }

        let clockB = HoldExpiryServiceTests.SetClock("2026-11-01T00:10:00Z")
        let b = Running(try HoldExpiryServiceTests.instanceConfig(h, "b"), clock: clockB, logger: h.logger)
        try await b.until("B took both partitions and expired the holds", seconds: 90) {
            accounts.allSatisfy { b.hold($0, "h")?.status == .expired } && b.service.status.holdExpiriesProduced == 2
        }
        #expect(a.service.status.holdExpiriesProduced == 0)
        clockA.open()
        try await a.until("A wrote the same expiries") { a.service.status.holdExpiriesProduced == 2 }
        try await b.until("the group caught up with every record", seconds: 90) {
            (try? h.committedAndEnds()).map { $0.committed == $0.ends && $0.ends.values.reduce(0, +) == 10 } == true
        }
        _ = try await a.stop()
        _ = try await b.stop()

        // Each expiry twice on the input, the same bytes under the same id.
        let input = try h.readAll("ai.usage")
        let expiries = input.filter { $0.json["type"] as? String == "credit.hold.expired" }
        let ids = accounts.map { "\($0)/h/expired/2026-11-01T00:10:00Z" }
        #expect(expiries.map { $0.json["id"] as? String ?? "" }.sorted() == (ids + ids).sorted())
        #expect(Dictionary(grouping: expiries) { $0.json["id"] as? String ?? "" }.values.allSatisfy { Set($0.map(\.value)).count == 1 })
        // The first copy ends the hold; the second is a duplicate.
        let config = try h.config()
        let replay = try Replay(input, config: config.engine, partitions: 2)
        #expect(replay.expiryRecordsApplied == 2 && replay.expiryRecordsDuplicate == 2)
        #expect(replay.expiredByRecord == 2 && replay.expiredByEvent == 0)
        // The last checkpoints: one expiry counted per hold, the hold ended at its expires_at,
        // the balance and available credits as the replay has them.
        let tps = (0..<2).map { TopicPartition("ai.usage", Int32($0)) }
        let checkpoints = try StateTopic.checkpoints(config, bootstrap: h.bootstrap, partitions: tps, logger: h.logger)
        for account in accounts {
            let p = KeyPartitioner.partition(account: account, count: 2)
            let ledger = try #require(checkpoints[TopicPartition("ai.usage", p)]?.ledger)
            let reference = try #require(replay.ledgers[p])
            #expect(ledger.counters.holdsExpired == 1 && reference.counters.holdsExpired == 1)
            #expect(ledger.counters.duplicates == reference.counters.duplicates)
            let hold = try #require(ledger.account(account)?.holdBook?.hold("h"))
            #expect(hold.status == .expired && hold.endedAt == HoldExpiryServiceTests.t("2026-11-01T00:10:00Z") && hold.settled == 1_000)
            #expect(ledger.account(account)?.holdBook == replay.book(account))
            #expect(ledger.accountIndex(account).map { String(decoding: ledger.accountDocument($0), as: UTF8.self) } == replay.document(account))
        }
        print("an expiry produced by two owners: \(expiries.count) expiry records for \(ids.count) holds, "
              + "\(replay.expiryRecordsApplied) applied, \(replay.expiryRecordsDuplicate) duplicates; \(ContinuousClock.now - started)")
    }
}
