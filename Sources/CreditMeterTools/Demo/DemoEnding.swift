import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging

/// The accounts at the demo's end: from the final ledgers once the service stopped, or from the
/// read model while it keeps serving (`--serve`).
struct Books {
    struct Row {
        let account: String
        let plan: String
        let state: Account
    }

    /// The workload's accounts (the agent workflows' are told apart).
    var rows: [Row]
    /// Every account keeps the ledger's invariants (conservation to the millicredit, no overage
    /// beside unspent credits, blocks summing to their total), and so do the totals.
    var auditClean: Bool

    init(ledgers: [TopicPartition: PartitionLedger]) {
        rows = ledgers.values.flatMap { ledger in
            (0..<ledger.accountCount).filter { !AgentWorkflows.owns(ledger.accountID($0)) }.map { i in
                Row(account: ledger.accountID(i), plan: Self.plan(ledger.accounts[i], ledger.config.priceBook), state: ledger.accounts[i])
            }
        }
        auditClean = ledgers.values.allSatisfy { $0.audit().isClean }
    }

    /// The read model's views: each the account as the ledger held it after the records its
    /// partition's position covers (the totals are sums of the accounts, so their conservation
    /// follows from each account's).
    init(views: [AccountView]) {
        rows = views.filter { !AgentWorkflows.owns($0.account) }.map { Row(account: $0.account, plan: Self.plan($0.state, $0.config.priceBook), state: $0.state) }
        auditClean = views.allSatisfy { $0.state.invariantFailures.isEmpty }
    }

    static func plan(_ a: Account, _ book: PriceBook) -> String {
        a.plan >= 0 ? book.plans[Int(a.plan)].id : a.plan == Account.customPlan ? "custom" : "-"
    }

    var largestOverage: Int64 { rows.map(\.state.overage).max() ?? 0 }

    /// The `top` accounts by credits used this cycle (all of them when there are no more).
    func table(top: Int) -> String {
        let sorted = rows.sorted { ($0.state.usedThisCycle, $0.account) > ($1.state.usedThisCycle, $1.account) }
        func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
            s.count >= n ? s : right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count)
        }
        let which = sorted.count > top ? "top \(top) of \(sorted.count) accounts" : sorted.count == 1 ? "the one account" : "all \(sorted.count) accounts"
        var lines = ["  \(which) by credits used this cycle",
                     "  " + pad("account", 12) + pad("plan", 7) + pad("used", 11, right: true) + pad("entitled", 11, right: true)
                        + pad("balance", 11, right: true) + pad("overage", 10, right: true) + "  blocks"]
        for r in sorted.prefix(top) {
            let a = r.state
            var blocks = ["allowance \(Credits.format(a.allowance))"]
            let grants = a.blocks.filter { $0.kind == .grant }.reduce(Int64(0)) { $0 + $1.remaining }
            let topups = a.blocks.filter { $0.kind == .topup }.reduce(Int64(0)) { $0 + $1.remaining }
            if grants > 0 { blocks.append("grants \(Credits.format(grants))") }
            if topups > 0 { blocks.append("top-ups \(Credits.format(topups))") }
            lines.append("  " + pad(r.account, 12) + pad(r.plan, 7) + pad(Credits.format(a.usedThisCycle), 11, right: true)
                         + pad(Credits.format(a.entitlement), 11, right: true) + pad(Credits.format(a.balance), 11, right: true)
                         + pad(Credits.format(a.overage), 10, right: true) + "  " + blocks.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}

/// What the demo prints at its end: the balances table, the product services' story, what was
/// read back from Kafka, and its own accounting. Each part of the story says so when it did
/// not happen at this size, and why, rather than claiming it.
struct Ending {
    let config: ServiceConfiguration
    let bootstrap: String
    let reader: TopicReader
    let memberAlerts: Locked<(count: Int, first: [String])>
    let outcome: ProductServices.Outcome
    let agents: AgentReport
    let gated: Bool
    /// Accounts with an auto top-up policy and with a member budget, in the workload.
    let policies: Int
    let budgets: Int
    let logger: Logger
    let say: @Sendable (String) -> Void

    func print(_ books: Books, status s: ServiceStatus, report: inout DemoReport, started: Date) throws {
        let dlq = TopicReader.readAll(topic: config.kafka.deadLetterTopic, bootstrap: bootstrap, logger: logger)
        let requests = TopicReader.readAll(topic: config.kafka.requestsTopic, bootstrap: bootstrap, logger: logger)
        report.deadLettersReadBack = dlq.count
        report.requestsReadBack = requests.count
        report.requestIDs = requests.compactMap { r in
            (try? JSONSerialization.jsonObject(with: Data(r.value)) as? [String: Any])?["id"] as? String
        }
        let member = memberAlerts.withLock { $0 }
        report.memberAlerts = member.count
        report.largestOverageMillicredits = books.largestOverage
        say("")
        say(books.table(top: 12))
        if requests.isEmpty {
            say("  auto top-up requests on \(config.kafka.requestsTopic): none — " + (policies == 0
                ? "no account has an auto top-up policy in this workload"
                : "the \(plural(policies, "account")) with an auto top-up policy stayed above the threshold at this size"))
        } else {
            say("  auto top-up requests on \(config.kafka.requestsTopic): \(requests.count) (read back)")
            for r in requests.prefix(3) { say("    request  " + (Demo.describeRequest(r.value) ?? "?")) }
        }
        if !gated {
            say("  product services ignored /check (--ungated): every AI action was started")
        } else if outcome.checks == 0 {
            say("  product services: no AI action in this workload")
        } else if outcome.paused.isEmpty {
            say("  product services: \(plural(outcome.checks, "/check call")); every AI action started — "
                + "no account was out of credits, and no member over budget, when its product asked")
        } else {
            say("  product services: \(plural(outcome.checks, "/check call")); \(fmt(outcome.allowed)) AI actions started, "
                + "\(fmt(outcome.paused.values.reduce(0, +))) paused ("
                + outcome.paused.sorted { $0.key < $1.key }.map { "\($0.key) \(fmt($0.value))" }.joined(separator: ", ") + ") in "
                + "\(plural(outcome.accountsPaused, "account")); \(plural(outcome.packsBought, "pack")) bought when paused, "
                + "\(outcome.resumed) resumed after a top-up")
        }
        say("  largest overage \(Credits.format(books.largestOverage)) credits")
        if agents.accounts > 0 { for line in agentLines() { say(line) } }
        if member.count == 0 {
            say("  member budget alerts: none — " + (budgets == 0
                ? "no account has a member budget in this workload"
                : "on the \(plural(budgets, "account")) with a member budget, no member reached an alert threshold at this size"))
        } else {
            say("  member budget alerts: \(member.count)")
            for line in member.first { say("    alert  " + line) }
        }
        var reasons: [String: Int] = [:]
        for r in dlq { reasons[r.headers["error"] ?? "?", default: 0] += 1 }
        say("  dead letters by reason:" + (reasons.isEmpty ? " none" : ""))
        for (reason, n) in reasons.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) { say("    \(n) × \(reason)") }
        say("")
        say("  consumed \(fmt(Int(s.consumed)))   priced \(fmt(Int(s.priced)))   duplicates \(fmt(Int(s.duplicates)))   "
            + "dead-lettered \(s.deadLettered)   alerts \(s.alertsPublished) (read back \(reader.count), \(reader.distinctIDs) distinct ids)   "
            + "balances records \(fmt(Int(s.balancesPublished)))")
        try accounting(books, status: s, report: &report, started: started)
    }

    /// The agent workflows' twins: the same workload under `/check` alone and under holds.
    func agentLines() -> [String] {
        let a = agents
        let workflows = a.accounts * a.workflowsPerAccount
        let still = a.suspended - a.resumed
        let suspended = a.suspended == 0 ? "none suspended"
            : "\(fmt(a.suspended)) suspended and " + (still == 0 ? "" : "\(fmt(a.resumed)) of them ") + "resumed after a top-up"
        func overspent(_ millicredits: Int64, _ accounts: Int) -> String {
            millicredits == 0 ? "overspent 0" : "overspent \(grouped(millicredits)) credits on \(plural(accounts, "account"))"
        }
        return [
            "  agent workflows: \(a.workflowsPerAccount) at once on each of \(a.accounts) accounts of \(grouped(a.entitlementMillicredits)) credits, "
                + "\(grouped(a.estimateMillicredits))-credit estimates spent in \(a.steps) steps",
            "    /check alone  \(fmt(a.checkStarted)) of \(fmt(workflows)) started, " + overspent(a.checkOverspentMillicredits, a.checkAccountsOverspent),
            "    holds         \(fmt(a.grantedAtOnce)) granted at once, \(suspended), " + overspent(a.holdsOverspentMillicredits, a.holdsAccountsOverspent)
                + (a.failure == nil ? "" : "  NOT AS TOLD: \(a.failure!)"),
        ]
    }

    /// Credits with thousands separators: `1400000` → `1,400`, `1234567` → `1,234.567` (negative amounts without).
    func grouped(_ millicredits: Int64) -> String {
        let s = Credits.format(millicredits)
        guard millicredits >= 0 else { return s }
        let point = s.firstIndex(of: ".") ?? s.endIndex
        return Int(s[..<point]).map { fmt($0) + s[point...] } ?? s
    }

    /// The demo's own accounting: every record in the input topic — the demo's, and with
    /// `--serve` any from elsewhere — is applied, a duplicate or dead-lettered, and the ledger
    /// conserves credits to the millicredit.
    func accounting(_ books: Books, status s: ServiceStatus, report: inout DemoReport, started: Date) throws {
        report.status = s
        report.alertsReadBack = reader.count
        report.distinctAlertIDs = reader.distinctIDs
        report.auditClean = books.auditClean
        report.fromElsewhere = Int(try Demo.held(config.kafka.inputTopics[0], bootstrap: bootstrap, logger: logger)) - report.produced
        report.seconds = Date().timeIntervalSince(started)
        let elsewhere = report.fromElsewhere == 0 ? "" : " + \(report.fromElsewhere) from elsewhere"
        say("  records  produced \(report.produced)\(elsewhere) = applied \(s.applied) + duplicates \(s.duplicates) + dead-lettered \(s.deadLettered)"
            + (report.balanced ? "" : "  MISMATCH"))
        say("  credits charged \(Credits.format(s.creditsChargedMillicredits))   audit \(report.auditClean ? "conserved to the millicredit" : "FAILED")   "
            + "\(String(format: "%.1f", report.seconds)) s")
    }
}
