extension Rules {
    /// `credit.alerts.configured` (contract §16): the account's own low-balance thresholds
    /// ("notify me at 80 % used" is 20 % remaining), or `null` to return to the configured
    /// default (`alerts.thresholds_percent`). Field rules — 1 to 5 distinct integers from 1 to
    /// 99 — are the decoder's, so nothing here refuses.
    ///
    /// The new list is in force from the next applied event: this event's own evaluations (the
    /// cycle starts and expiries it brings) use the thresholds in force before it, and then
    /// (`apply`, after step 8) fired marks follow their threshold's value — a kept threshold's
    /// mark stays, a removed one's is dropped, an added one starts unfired, so the next
    /// evaluation fires it if it is already crossed (most severe only, as §6). Alert ids name
    /// the account's own thresholds and never repeat within a cycle: a removed threshold's
    /// counts wait in `AccountExtras.retiredAlertCounts` until it is set again or the cycle
    /// ends (`AlertState.rethreshold`). Member budget alerts keep the configured default.
    enum AlertThresholds {
        struct Change {
            /// The account's own thresholds; empty: back to the configured default.
            var thresholds: ThresholdList
        }

        @inline(__always)
        static func validate(_ e: DecodedEvent) -> Change {
            Change(thresholds: e.thresholdsPercent)
        }

        /// Runs after the event's evaluations (step 8), so that the list is in force from the next event.
        static func apply(_ c: Change, to a: inout Account, config: EngineConfiguration) {
            let old = a.alertThresholds(default: config.thresholds)
            let own = c.thresholds.descending
            let new = own.isEmpty ? config.thresholds : own
            var retired = a.extras.first?.retiredAlertCounts ?? []
            a.alerts.rethreshold(from: old, to: new, retired: &retired)
            if !own.isEmpty || !retired.isEmpty || !a.extras.isEmpty {
                a.withExtras { x in
                    x.alertThresholds = own
                    x.retiredAlertCounts = retired
                }
            }
            a.refreshActivePolicies()
        }
    }
}

/// This cycle's alert counts of a threshold the account removed (§14: an id's n never restarts
/// within a cycle, so a threshold set again continues them).
public struct RetiredAlertCounts: Sendable, Equatable {
    public var percent: Int64
    /// The last n of its `credit.balance.low` and `credit.balance.recovered` ids this cycle.
    public var low: Int64
    public var recovered: Int64

    public init(percent: Int64, low: Int64, recovered: Int64) {
        self.percent = percent; self.low = low; self.recovered = recovered
    }
}

extension Account {
    /// The low-balance thresholds in force (§6, §16), high → low: the account's own, else the
    /// configured default. An account with none of its own reads no §12 state.
    @inline(__always)
    func alertThresholds(default configured: [Int64]) -> [Int64] {
        activePolicies.contains(.ownThresholds) ? extras[0].alertThresholds : configured
    }
}
