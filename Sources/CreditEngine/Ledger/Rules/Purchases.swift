extension Rules {
    /// `credit.grant.issued` and `credit.topup.purchased` (contract §2, §5, §12): credits added
    /// as a block — a top-up never expires, a grant may — after paying overage off; both count
    /// as granted and in this cycle's entitlement in full, and end a pending top-up request.
    /// Their ids are remembered for good (`AccountExtras.grantIDs`), so that a void can name
    /// them. A top-up of a pack takes the pack's credits unless `credits` is given, and its
    /// price counts as money paid. Rejected: a pack the price book does not have.
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

        @inline(__always)
        static func apply(_ c: Change, _ e: DecodedEvent, to a: inout Account) {
            a.granted += c.credits
            a.entitlement += c.credits
            if c.kind == .topup {
                a.creditsBought += c.credits
                a.moneyPaidMicros += c.packPriceMicros
                a.record(HistoryEntry(.topup, time: e.time, credits: c.credits))
                a.withExtras { $0.rememberGrant(c.origin); $0.requestPending = false }
                a.addBlock(.topup, c.credits, expiresAt: .max, origin: c.origin)
                return
            }
            a.record(HistoryEntry(.grant, time: e.time, credits: c.credits, at: e.expiresAt ?? .max))
            a.withExtras { $0.rememberGrant(c.origin); $0.requestPending = false }
            if let expiry = e.expiresAt, expiry <= a.clock {
                // A late grant that has already expired on this account's clock is gone at
                // once: it pays nothing off.
                a.expired += c.credits
                a.record(HistoryEntry(.grantExpired, time: expiry, credits: -c.credits))
            } else {
                a.addBlock(.grant, c.credits, expiresAt: e.expiresAt ?? .max, origin: c.origin)
            }
        }
    }
}
