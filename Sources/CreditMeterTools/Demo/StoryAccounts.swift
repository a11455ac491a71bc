import CreditEngine
import Foundation

extension Demo {
    /// The generator gives an auto top-up policy and a member budget (for member `u-0`) to a
    /// random share of the accounts (`autoTopupPercent`, `budgetPercent`): on a small workload
    /// that can be none, or only accounts that never spend enough to reach them. There, the
    /// two accounts likeliest to reach each (by the generator's own spend estimate) get one
    /// too, right after their plan, with the generator's terms: top up 1,000 credits below a
    /// tenth of the allowance, at most twice a cycle; `u-0` may use a twentieth of it.
    /// Workloads where each feature is expected on three accounts or more stay as generated.
    static func withStoryAccounts(_ records: [WorkloadRecord], spec: WorkloadSpec, prices: PriceBook) -> [WorkloadRecord] {
        let wantPolicies = spec.accounts * spec.autoTopupPercent < 300
        let wantBudgets = spec.accounts * spec.budgetPercent < 300
        guard wantPolicies || wantBudgets else { return records }
        // Each account's plan record (index, time, allowance), policies and budgets so far.
        var plans: [Int: (index: Int, time: Int64, allowance: Int64)] = [:]
        var hasPolicy = Set<Int>(), hasBudget = Set<Int>()
        var spend: [Int: Double] = [:], memberSpend: [Int: Double] = [:]
        for (i, r) in records.enumerated() {
            guard let key = r.key, let account = ProductServices.accountIndex(String(decoding: key, as: UTF8.self)) else { continue }
            switch r.kind {
            case .usage:
                let check = r.check ?? ""
                let action = String(ProductServices.field(check, "action") ?? "")
                let reasoning = ProductServices.field(check, "model") == "reasoning"
                let credits = (Workload.nominal[action] ?? 0) * (reasoning ? 6 : 1)
                spend[account, default: 0] += credits
                if ProductServices.field(check, "member") == "u-0" { memberSpend[account, default: 0] += credits }
            case .setup:
                guard let event = try? JSONSerialization.jsonObject(with: Data(r.value)) as? [String: Any],
                      let type = event["type"] as? String else { continue }
                if type == "credit.plan.assigned", let data = event["data"] as? [String: Any], let plan = data["plan"] as? String,
                   let allowance = prices.plans.first(where: { $0.id == plan })?.monthlyCredits,
                   let time = (event["time"] as? String).flatMap(EventTime.parse) {
                    plans[account] = (i, time, allowance)
                }
                if type == "credit.autotopup.configured" { hasPolicy.insert(account) }
                if type == "credit.member.budget.set" { hasBudget.insert(account) }
            case .duplicate, .malformed:
                continue
            }
        }
        /// The two accounts with the largest estimated spend per credit of `share` of the allowance.
        func likeliest(_ estimate: [Int: Double], share: Int64) -> [Int] {
            plans.keys.filter { (estimate[$0] ?? 0) > 0 }
                .sorted { a, b in
                    let (ra, rb) = (estimate[a]! / Double(max(1, plans[a]!.allowance / share)), estimate[b]! / Double(max(1, plans[b]!.allowance / share)))
                    return (ra, b) > (rb, a)
                }
                .prefix(2).map { $0 }
        }
        var added: [Int: [WorkloadRecord]] = [:]  // plan record index → records to insert after it
        if wantPolicies {
            for a in likeliest(spend, share: 1) where !hasPolicy.contains(a) {
                let p = plans[a]!
                added[p.index, default: []].append(Workload.setup(
                    type: "credit.autotopup.configured", account: a, id: "autotopup-\(a)", time: p.time + EventTime.nanosPerSecond,
                    data: "{\"pack\":\"pack-1000\",\"below_credits\":\(p.allowance / 1000 / 10),\"max_per_cycle\":2}"))
            }
        }
        if wantBudgets {
            for a in likeliest(memberSpend, share: 20) where !hasBudget.contains(a) {
                let p = plans[a]!
                added[p.index, default: []].append(Workload.setup(
                    type: "credit.member.budget.set", account: a, id: "budget-\(a)", time: p.time + 2 * EventTime.nanosPerSecond,
                    data: "{\"member\":\"u-0\",\"monthly_credits\":\(max(1, p.allowance / 1000 / 20))}"))
            }
        }
        guard !added.isEmpty else { return records }
        var out: [WorkloadRecord] = []
        out.reserveCapacity(records.count + added.values.reduce(0) { $0 + $1.count })
        for (i, r) in records.enumerated() {
            out.append(r)
            out += added[i] ?? []
        }
        return out
    }
}
