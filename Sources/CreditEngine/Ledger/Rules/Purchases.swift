extension Rules {
    /// `credit.grant.issued` and `credit.topup.purchased` (contract §2, §5, §12, §14): credits
    /// added as a block — a top-up never expires, a grant may — after paying overage off; both
    /// count as granted and in this cycle's entitlement in full, and end a pending top-up
    /// request. Their ids are remembered for good (`AccountExtras.grantIDs`): a void names
    /// them, and one applied again at any later time is a duplicate (step 2 of
    /// `LedgerState.apply`). A top-up of a pack takes the pack's credits unless `credits` is
    /// given, and its price counts as money paid. A late grant already expired on arrival
    /// (`expires_at` ≤ the account clock) is history alone: `grant` then `grant_expired`, no
    /// credits, no entitlement, no alert, no effect on a pending request. Rejected: a pack the
    /// price book does not have.
    enum Purchase {
        struct Change {
            /// `.topup` or `.grant`.
            var kind: BlockKind
            var credits: Int64
            /// The pack's price (a top-up of a pack), micro-units.
            var packPriceMicros: Int64
            /// Fingerprint of the event's (source, id): its block's origin.
            var origin: UInt64
        }

        @inline(__always)
        static func validate(_ e: DecodedEvent, origin: UInt64, config: EngineConfiguration) throws(Rejection) -> Change {
            guard e.type == .topupPurchased else {
                return Change(kind: .grant, credits: e.credits ?? 0, packPriceMicros: 0, origin: origin)
            }
            var packCredits: Int64 = 0
            var packPrice: Int64 = 0
            if let p = e.pack {
                let book = config.priceBook
                guard let i = book.packIndex(p) else { throw .unknownPack }
                packCredits = book.packs[i].credits
                packPrice = book.packs[i].priceMicros
            }
            return Change(kind: .topup, credits: e.credits ?? packCredits, packPriceMicros: packPrice, origin: origin)
        }

        /// Returns false for a grant already expired on arrival (history alone: nothing to
        /// evaluate after it).
        @inline(__always)
        static func apply(_ c: Change, _ e: DecodedEvent, to a: inout Account) -> Bool {
            if c.kind == .topup {
                a.granted += c.credits
                a.entitlement += c.credits
                a.creditsBought += c.credits
                a.moneyPaidMicros += c.packPriceMicros
                a.record(HistoryEntry(.topup, time: e.time, credits: c.credits))
                a.withExtras { $0.rememberGrant(c.origin); $0.requestPending = false }
                a.addBlock(.topup, c.credits, expiresAt: .max, origin: c.origin)
                return true
            }
            a.record(HistoryEntry(.grant, time: e.time, credits: c.credits, at: e.expiresAt ?? .max))
            if let expiry = e.expiresAt, expiry <= a.clock {
                // Expired on this account's clock before it arrived: recorded, remembered (a
                // void of it removes 0, a redelivery is a duplicate), and nothing else.
                a.record(HistoryEntry(.grantExpired, time: expiry, credits: -c.credits))
                a.withExtras { $0.rememberGrant(c.origin) }
                return false
            }
            a.granted += c.credits
            a.entitlement += c.credits
            a.withExtras { $0.rememberGrant(c.origin); $0.requestPending = false }
            a.addBlock(.grant, c.credits, expiresAt: e.expiresAt ?? .max, origin: c.origin)
            return true
        }
    }
}
