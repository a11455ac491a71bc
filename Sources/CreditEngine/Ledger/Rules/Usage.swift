extension Rules {
    /// `ai.usage` (contract §2, §3, §5): priced exactly under the rate-card version in force for
    /// the account at the event's time — its pin while the pin holds, else the version with the
    /// latest `effective_from` ≤ the time — then charged in full in burn order (what the blocks
    /// cannot cover becomes overage) and counted in this cycle's breakdowns. Usage makes no
    /// history entry. This is the hot path: both steps are inlined into `LedgerState.apply`.
    enum Usage {
        struct Change {
            /// Millicredits.
            var price: Int64
            /// The rate-card version (index) that priced it.
            var version: Int
        }

        /// Rejected: no rate card in force at the event's time, an unknown action, a model the
        /// card does not know (and no `default`), a price too large.
        @inline(__always)
        static func validate(_ e: DecodedEvent, account: Int?, in ledger: LedgerState) throws(Rejection) -> Change {
            let v: Int?
            if let i = account {
                v = ledger.versionInForce(pinned: ledger.accounts[i].pinnedVersion, until: ledger.accounts[i].pinUntil, at: e.time)
            } else {
                v = ledger.config.rateCards.index(inForceAt: e.time)
            }
            guard let v else { throw .pricing(.noRateCard) }
            do { return Change(price: try ledger.config.rateCards.price(e, version: v), version: v) } catch { throw .pricing(error) }
        }

        @inline(__always)
        static func apply(_ c: Change, _ e: DecodedEvent, names: EventNames, to a: inout Account) {
            a.burn(c.price)
            a.charged += c.price
            a.usedThisCycle += c.price
            a.costNanoUSD += e.costNanoUSD
            // The account's first cells (its event day, cycle day, capability and member) in one
            // allocation, of the capacity appending them one by one reaches (1 → 2 → 4).
            if a.usage.capacity == 0 { a.usage.reserveCapacity(names.capability >= 0 || names.member >= 0 ? 4 : 2) }
            a.addDayUsage(eventTime: e.time, c.price)
            if names.capability >= 0 { a.addUsage(UsageCell.capabilityTag | UInt32(names.capability), c.price) }
            if names.member >= 0 { a.addUsage(UsageCell.memberTag | UInt32(names.member), c.price) }
        }
    }
}
