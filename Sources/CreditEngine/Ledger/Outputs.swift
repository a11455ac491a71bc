/// Steps 8 and 10 of `LedgerState.apply`: what an applied event owes the outside world —
/// balance alerts (§6, `AlertState`), a member budget alert and an auto top-up request
/// (§12, Policies.swift), a runway alert (§12, Runway.swift). Decided on the account in place
/// (`decide`); made into values to publish only when something fired (`report`).
extension LedgerState {
    /// What an applied event decided besides its effect: the alerts and the request to make.
    struct Decision {
        var recovered: AlertState.Action?
        var crossed: AlertState.Action?
        var member: MemberAlertAction?
        var runway: Int64?
        /// The request's id `n` and its `request_number`.
        var request: (sequence: Int64, number: Int64)?

        @inline(__always)
        var isEmpty: Bool { recovered == nil && crossed == nil && member == nil && runway == nil && request == nil }
    }

    /// Step 8, after the effect, with the account borrowed in place. `openEpisode`: the alert
    /// episode a cycle start of this event left open (a `recovered` may be owed).
    @inline(__always)
    static func decide(_ a: inout Account, _ e: DecodedEvent, names: EventNames, openEpisode: UInt8,
                       config: EngineConfiguration) -> Decision {
        var decision = Decision()
        // Balance alerts: only within a cycle, on the account's own thresholds (§16) or the
        // configured ones (passed as they are: an ordinary account's path is unchanged).
        if a.hasPlan {
            if a.activePolicies.contains(.ownThresholds) {
                let own = a.extras[0].alertThresholds
                evaluateBalance(&decision, &a, thresholds: own, openEpisode: openEpisode)
            } else {
                evaluateBalance(&decision, &a, thresholds: config.thresholds, openEpisode: openEpisode)
            }
        }
        // An account with no policy reads no §12 state. Member budgets keep the configured thresholds.
        if !a.activePolicies.isEmpty {
            if a.activePolicies.contains(.memberBudgets) && names.member >= 0 {
                decision.member = a.evaluateMemberBudget(Int32(names.member), thresholds: config.thresholds)
            }
            if a.activePolicies.contains(.autoTopup) { decision.request = a.evaluateAutoTopup() }
        }
        if let days = config.runwayDays, a.hasPlan, e.type == .usage || a.extras.first?.runwayFired == true {
            decision.runway = a.evaluateRunwayAlert(days: days, usage: e.type == .usage)
        }
        return decision
    }

    /// The balance alerts (§6) on `thresholds`, numbered.
    @inline(__always)
    static func evaluateBalance(_ decision: inout Decision, _ a: inout Account, thresholds: [Int64], openEpisode: UInt8) {
        (decision.recovered, decision.crossed) = a.alerts.evaluate(balance: a.balance, entitlement: a.entitlement,
                                                                   thresholds: thresholds, openFromPreviousCycle: openEpisode)
        if decision.recovered != nil || decision.crossed != nil { number(&decision, &a, thresholds: thresholds.count) }
    }

    /// Gives the balance alerts just decided their `n` (Sequences.swift), recovered first.
    @inline(never)
    static func number(_ decision: inout Decision, _ a: inout Account, thresholds: Int) {
        var numbering = a.numbering
        if decision.recovered != nil { a.alerts.number(&decision.recovered!, thresholds: thresholds, &numbering) }
        if decision.crossed != nil { a.alerts.number(&decision.crossed!, thresholds: thresholds, &numbering) }
        a.numbering = numbering
    }

    /// Step 10: makes the alerts and requests to publish (the only place their strings are
    /// made) and keeps the alerts in the account's list for this cycle. `version`: the
    /// rate-card version that priced the event, or −1.
    @inline(never)
    mutating func report(_ index: Int, _ decision: Decision, _ e: DecodedEvent, version: Int, into result: inout ApplyResult) {
        let alerts = makeAlerts(index, decision, e, version: version)
        var requests: [TopupRequest] = []
        if let r = decision.request, let x = accounts[index].extras.first, let p = x.autoTopup {
            let a = accounts[index]
            requests.append(TopupRequest(account: ids.string(index), cycleStart: a.hasPlan ? a.cycleStart : nil, sequence: r.sequence,
                                         number: r.number, pack: p.pack >= 0 ? config.priceBook.packs[Int(p.pack)].id : nil,
                                         credits: p.credits, balance: a.balance, below: p.below, triggeredBy: e.id.utf8String,
                                         maxPerCycle: p.maxPerCycle, time: e.time))
        }
        result.fired = FiredAlerts(alerts, requests: requests)
        counters.alerts += Int64(alerts.count)
        counters.requests += Int64(requests.count)
        for alert in alerts {
            accounts[index].cycleAlerts.append(CycleAlert(time: alert.time, kind: alert.kind,
                                                          threshold: Int32(alert.kind == .runway ? alert.runwayDays ?? 0 : Int64(alert.thresholdPercent)),
                                                          sequence: Int64(alert.sequence), member: alert.memberIndex))
        }
        if accounts[index].cycleAlerts.count > CycleAlert.capacity {
            accounts[index].cycleAlerts.removeFirst(accounts[index].cycleAlerts.count - CycleAlert.capacity)
        }
    }

    /// Builds the alerts to publish (only when one fires: strings are made here).
    private func makeAlerts(_ index: Int, _ decision: Decision, _ e: DecodedEvent, version: Int) -> [Alert] {
        let a = accounts[index]
        let account = ids.string(index)
        let trigger = e.id.utf8String
        let versionName = (version >= 0 ? version : versionInForce(a, at: e.time)).map { config.rateCards.version($0) }
        func make(_ action: AlertState.Action) -> Alert {
            Alert(kind: action.kind, thresholdPercent: action.thresholdPercent, sequence: action.sequence,
                  account: account, remaining: a.balance, entitlement: a.entitlement,
                  cycleStart: a.cycleStart, cycleEnd: a.cycleEnd, triggeredBy: trigger,
                  rateCardVersion: versionName, time: e.time)
        }
        var out = [decision.recovered.map(make), decision.crossed.map(make)].compactMap { $0 }
        if let m = decision.member, let b = a.extras.first?.budgets.first(where: { $0.member == m.member }) {
            var alert = make(AlertState.Action(kind: m.kind, thresholdPercent: m.thresholdPercent, sequence: m.sequence))
            alert.member = members.string(Int(m.member))
            alert.memberIndex = m.member
            alert.budget = b.budget
            alert.used = a.memberUsed(m.member)
            out.append(alert)
        }
        if let n = decision.runway {
            var alert = make(AlertState.Action(kind: .runway, thresholdPercent: 0, sequence: Int(n)))
            alert.runwayDays = config.runwayDays
            alert.runway = a.runway
            out.append(alert)
        }
        return out
    }
}
