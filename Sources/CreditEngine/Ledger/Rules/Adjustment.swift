extension Rules {
    /// `credit.adjusted` (contract §5): a signed correction. A negative one burns in burn order
    /// and what the blocks cannot cover goes to overage; a positive one pays overage off, the
    /// rest becomes a non-expiring grant (which cannot be voided) and ends a pending top-up
    /// request. Neither changes entitlement. Its id is remembered with no time limit
    /// (`LedgerState.Change.remembersIDForever`).
    enum Adjustment {
        struct Change {
            /// Signed millicredits.
            var credits: Int64
        }

        @inline(__always)
        static func validate(_ e: DecodedEvent) -> Change {
            Change(credits: e.credits ?? 0)
        }

        @inline(__always)
        static func apply(_ c: Change, _ e: DecodedEvent, to a: inout Account) {
            a.adjusted += c.credits
            a.record(HistoryEntry(.adjusted, time: e.time, credits: c.credits))
            if c.credits < 0 {
                a.burn(-c.credits)
            } else if c.credits > 0 {
                a.clearPendingRequest()
                a.addBlock(.grant, c.credits, expiresAt: .max)
            }
        }
    }
}
