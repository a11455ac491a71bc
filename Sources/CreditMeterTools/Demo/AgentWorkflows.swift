import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging

/// What the demo's agent workflows did, and what their accounts' documents say they overspent.
public struct AgentReport: Sendable {
    /// Accounts per twin, workflows started at once on each, steps per workflow.
    public var accounts = 0
    public var workflowsPerAccount = 0
    public var steps = 0
    /// Each account's entitlement at the start and each workflow's estimate (its hold), as the
    /// service states them.
    public var entitlementMillicredits: Int64 = 0
    public var estimateMillicredits: Int64 = 0
    /// Records in the input topic for these accounts: produced by the demo (plans, usage, top-ups),
    /// and by the service on the demo's behalf — one per hold request or release it answered
    /// with a decision (or with 202: produced, not yet applied).
    public var produced = 0
    public var producedByService = 0
    /// `/check` alone: workflows started, credits overspent (Σ `overage_credits`) and on how many accounts.
    public var checkStarted = 0
    public var checkOverspentMillicredits: Int64 = 0
    public var checkAccountsOverspent = 0
    /// Holds: granted when the workflows started, denied (the workflow suspended), granted when
    /// a suspended workflow asked again after its account's top-up; credits overspent.
    public var grantedAtOnce = 0
    public var suspended = 0
    public var resumed = 0
    public var holdsOverspentMillicredits: Int64 = 0
    public var holdsAccountsOverspent = 0

    public init() {}

    /// Why the story is not what the demo tells (nil when it is): under holds nothing may be
    /// overspent, and under `/check` alone the same workload overspends.
    public var failure: String? {
        guard accounts > 0 else { return nil }
        if holdsOverspentMillicredits != 0 {
            return "agent workflows under holds overspent \(Credits.format(holdsOverspentMillicredits)) credits (expected 0)"
        }
        if checkOverspentMillicredits <= 0 { return "agent workflows under /check alone overspent nothing (expected more than 0)" }
        return nil
    }
}

/// The demo's agent workflows: long-running work whose cost is known only as an estimate, on
/// accounts of their own (the workload's accounts and their story are untouched), in twins —
/// each pair has the same plan and the same workload: `workflowsPerAccount` workflows start at
/// once (a thread each, over HTTP), each spending its estimate in `steps` usage events of
/// `action`.
/// - The `/check` twin behaves as products do today: every workflow asks `/check`, then spends.
///   All checks are answered before any usage of theirs is produced, as when agents start at
///   the same moment: every one is allowed, and together they overspend.
/// - The holds twin asks for a hold of the estimate (`action` × `steps`, priced by the
///   service) first; a granted workflow spends its steps as usage naming the hold, then
///   releases it. A denied one (402 `insufficient_credits`) suspends; once every workflow has
///   its answer, the billing system buys a pack for each account with a suspended workflow,
///   and once the broker has acknowledged it, the suspended workflows ask again and run.
/// Every figure is a function of the log, never of timing: a hold's settlements leave available
/// credits unchanged, so which requests are granted follows from the estimates alone; each
/// release is asked for only after the broker acknowledged its steps, and each second request
/// after the pack (a later offset in the account's partition). No credits reach an account
/// after its usage, so its final `overage_credits` is all it ever overspent.
///
/// Events carry the wall clock's time: the service stamps hold events with its own, and holds
/// expire on the account's clock.
struct AgentWorkflows {
    struct Spec: Sendable {
        /// Account pairs (0: no agent workflows).
        var pairs = 10
        var workflowsPerAccount = 8
        var plan = "trial"
        var action = "web_research"
        var steps = 3
        /// The pack the billing system buys when a workflow is suspended.
        var pack = "pack-1000"
    }

    let spec: Spec
    let port: Int
    let token: String?
    let bootstrap: String
    let topic: String
    let now: WallClock
    let logger: Logger

    static let prefix = "agent-"

    /// The wall clock to the millisecond (event times as products write them).
    func time() -> Int64 { now() / 1_000_000 * 1_000_000 }

    /// True for the accounts of the agent workflows (apart from the workload's).
    static func owns(_ account: String) -> Bool { account.hasPrefix(prefix) }

    /// `agent-00-check`, `agent-00-holds`, …: the twins side by side in account order.
    static func account(_ pair: Int, holds: Bool) -> String {
        Self.prefix + (pair < 10 ? "0" : "") + "\(pair)-" + (holds ? "holds" : "check")
    }

    /// One workflow of the holds twin: its account, its number there, the hold it runs under.
    struct Run: Sendable {
        var account: String
        var number: Int
        var holdID: String
        var granted = false
    }

    /// Plays both twins to the end; the overspend figures come from `readBack` once the service
    /// has applied every record.
    func run() throws -> AgentReport {
        var report = AgentReport()
        report.accounts = spec.pairs
        report.workflowsPerAccount = spec.workflowsPerAccount
        report.steps = spec.steps
        let failures = Locked(0)
        let producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap)], logger: logger) { r in
            if r.error != nil { failures.withLock { $0 += 1 } }
        }
        let out = Output(producer: producer, topic: producer.topic(topic), failures: failures)
        let fromService = Locked(0)
        let n = spec.workflowsPerAccount
        let clients = (0..<(spec.pairs * n)).map { _ in LoopbackHTTPClient(port: port) }
        defer { for c in clients { c.disconnect() } }

        // The accounts: a plan each, applied before any workflow starts.
        let accounts = (0..<spec.pairs).flatMap { [Self.account($0, holds: false), Self.account($0, holds: true)] }
        for a in accounts {
            try out.produce(Workload.event(type: "credit.plan.assigned", subject: a, id: "plan-\(a)", source: "//billing.example/subscriptions",
                                           time: time(), data: "{\"plan\":\"\(spec.plan)\"}", kind: .setup))
        }
        try out.confirm()
        report.produced += accounts.count
        for a in accounts {
            let doc = try until(clients[0], "/v1/accounts/\(a)", "the account \(a)") { $0.status == 200 }
            report.entitlementMillicredits = Self.millicredits(doc.text, "entitlement_credits") ?? 0
        }

        // The /check twin: every workflow asks, then the allowed ones spend.
        let allowed = Locked(Set<Int>())
        try onThreads(spec.pairs * n, name: "demo-agent-check") { i in
            let a = Self.account(i / n, holds: false)
            let r = try clients[i].served("/v1/accounts/\(a)/check?action=\(spec.action)&quantity=1", token: token)
            guard r.status == 200 else { throw ServiceError("/check answered \(r.status) for \(a): \(r.text)") }
            if r.json["allowed"] as? Bool == true { allowed.withLock { _ = $0.insert(i) } }
        }
        for i in allowed.value.sorted() {
            try spend(Self.account(i / n, holds: false), workflow: i % n, hold: nil, out)
        }
        try out.confirm()
        report.checkStarted = allowed.value.count
        report.produced += report.checkStarted * spec.steps

        // The holds twin: every workflow asks for a hold of its estimate at once.
        let runs = Locked((0..<(spec.pairs * n)).map { i in Run(account: Self.account(i / n, holds: true), number: i % n, holdID: "run-\(i % n)-1") })
        let estimate = Locked<Int64>(0)
        try onThreads(spec.pairs * n, name: "demo-agent-hold") { i in
            let run = runs.value[i]
            let (granted, held) = try requestHold(clients[i], run, fromService)
            runs.withLock { $0[i].granted = granted }
            if let held { estimate.withLock { $0 = held } }
        }
        report.grantedAtOnce = runs.value.filter(\.granted).count
        report.suspended = runs.value.count - report.grantedAtOnce
        // The billing system buys a pack for each account with a suspended workflow; the
        // workflows resume once the broker has it.
        let toppedUp = Set(runs.value.filter { !$0.granted }.map(\.account))
        for a in toppedUp.sorted() {
            try out.produce(Workload.event(type: "credit.topup.purchased", subject: a, id: "agent-topup-\(a)", source: "//billing.example/subscriptions",
                                           time: time(), data: "{\"pack\":\"\(spec.pack)\"}", kind: .setup))
        }
        try out.confirm()
        report.produced += toppedUp.count
        let resumed = Locked(0)
        try onThreads(spec.pairs * n, name: "demo-agent-run") { i in
            var run = runs.value[i]
            if !run.granted {
                run.holdID = "run-\(run.number)-2"
                let (granted, held) = try requestHold(clients[i], run, fromService)
                guard granted else { return }  // still suspended: the story says so
                resumed.withLock { $0 += 1 }
                if let held { estimate.withLock { $0 = held } }
            }
            try spend(run.account, workflow: run.number, hold: run.holdID, out)
            // The release follows the steps in the log: asked for once the broker has them.
            try out.confirm()
            try release(clients[i], run, fromService)
        }
        report.resumed = resumed.value
        report.produced += (report.grantedAtOnce + report.resumed) * spec.steps
        report.producedByService = fromService.value
        report.estimateMillicredits = estimate.value
        return report
    }

    /// The overspend of both twins from their accounts' documents, once the service has applied
    /// every record of theirs.
    func readBack(_ report: AgentReport) throws -> AgentReport {
        var report = report
        let client = LoopbackHTTPClient(port: port)
        defer { client.disconnect() }
        for pair in 0..<spec.pairs {
            for holds in [false, true] {
                let a = Self.account(pair, holds: holds)
                let doc = try client.served("/v1/accounts/\(a)", token: token)
                guard doc.status == 200, let overage = Self.millicredits(doc.text, "overage_credits") else {
                    throw ServiceError("the account \(a) answered \(doc.status): \(doc.text.prefix(200))")
                }
                if holds {
                    report.holdsOverspentMillicredits += overage
                    if overage > 0 { report.holdsAccountsOverspent += 1 }
                } else {
                    report.checkOverspentMillicredits += overage
                    if overage > 0 { report.checkAccountsOverspent += 1 }
                }
            }
        }
        return report
    }

    // MARK: Steps

    /// A workflow's steps: `steps` usage events of `action`, naming its hold if it has one.
    func spend(_ account: String, workflow: Int, hold: String?, _ out: Output) throws {
        for step in 1...spec.steps {
            let data = "{\"action\":\"\(spec.action)\",\"quantity\":1,\"capability\":\"agents\"" + (hold.map { ",\"hold_id\":\"\($0)\"" } ?? "") + "}"
            try out.produce(Workload.event(type: "ai.usage", subject: account, id: "\(account)-\(hold ?? "run-\(workflow)")-step-\(step)",
                                           source: "//agents.example/research", time: time(), data: data, kind: .usage))
        }
    }

    /// Asks for `run`'s hold of its estimate: granted or not, and the credits held. A 202 is
    /// followed by reading the hold until it is decided.
    func requestHold(_ client: LoopbackHTTPClient, _ run: Run, _ fromService: Locked<Int>) throws -> (granted: Bool, held: Int64?) {
        let body = "{\"hold_id\":\"\(run.holdID)\",\"action\":\"\(spec.action)\",\"multiplier\":\(spec.steps),\"workflow\":\"research-\(run.number)\"}"
        let path = "/v1/accounts/\(run.account)/holds"
        var r = try client.served(path, token: token, body: body)
        switch r.status {
        case 201, 402, 422:
            fromService.withLock { $0 += 1 }
        case 200:
            break  // a repeated hold_id (asked again after a 503): answered from what the service knew, nothing produced
        case 202:
            fromService.withLock { $0 += 1 }
            r = try until(client, "\(path)/\(run.holdID)", "the decision on \(run.account)'s hold \(run.holdID)") { $0.status == 200 }
        default:
            throw ServiceError("a hold for \(run.account) was answered \(r.status): \(r.text)")
        }
        let status = r.json["status"] as? String
        if status == "active" { return (true, Self.millicredits(r.text, "held_credits")) }
        let reason = r.json["error"] as? String ?? r.json["reason"] as? String ?? "?"
        guard status == "denied", reason == "insufficient_credits" else {
            throw ServiceError("a hold for \(run.account) was answered \(r.status): \(r.text)")
        }
        return (false, nil)
    }

    /// Releases `run`'s hold (what its steps did not spend goes back to available credits).
    func release(_ client: LoopbackHTTPClient, _ run: Run, _ fromService: Locked<Int>) throws {
        let path = "/v1/accounts/\(run.account)/holds/\(run.holdID)"
        let r = try client.served(path + "/release", token: token, body: "")
        switch r.status {
        case 200:
            fromService.withLock { $0 += 1 }
        case 202:
            fromService.withLock { $0 += 1 }
            _ = try until(client, path, "the release of \(run.account)'s hold \(run.holdID)") { $0.json["status"] as? String == "released" }
        default:
            throw ServiceError("the release of \(run.account)'s hold \(run.holdID) was answered \(r.status): \(r.text)")
        }
    }

    // MARK: HTTP

    /// Reads `target` every 20 ms until `done` says so, for up to 30 s.
    func until(_ client: LoopbackHTTPClient, _ target: String, _ what: String,
               _ done: (LoopbackHTTPClient.Response) -> Bool) throws -> LoopbackHTTPClient.Response {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let r = try client.get(target, token: token)
            if done(r) { return r }
            guard ContinuousClock.now < deadline else { throw ServiceError("\(what): not there after 30 s (\(r.status) \(r.text.prefix(200)))") }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// A credits field of a JSON answer in millicredits, from its text (never through floating point).
    static func millicredits(_ json: String, _ name: String) -> Int64? {
        Demo.field(json, name).flatMap(ExactDecimal.parse)?.scaled(by: Credits.scale)
    }

    // MARK: Kafka

    /// The demo's producer for these accounts; `confirm` waits until the broker has acknowledged
    /// every record produced so far.
    struct Output: Sendable {
        let producer: KafkaProducer
        let topic: ProducerTopic
        let failures: Locked<Int>

        func produce(_ r: WorkloadRecord) throws {
            try r.value.withUnsafeBytes { v in
                try r.key!.withUnsafeBytes { k in try producer.produce(topic, key: k, value: v, timestampMs: r.timestampMs) }
            }
        }

        func confirm() throws {
            try producer.flush(timeoutMs: 30_000)
            guard failures.value == 0 else { throw ServiceError("\(failures.value) agent workflow records were not delivered") }
        }
    }
}
