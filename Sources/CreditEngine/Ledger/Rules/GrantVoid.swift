extension Rules {
    /// `credit.grant.voided` (contract §12): what is left of the block a grant or top-up of
    /// this account made is removed now; credits already spent stay spent, and entitlement
    /// decreases by the amount removed. Voiding a spent or voided block removes 0. Rejected: a
    /// `grant_id` (with `grant_source`, default the event's source) that names no grant or
    /// top-up event of this account.
    enum GrantVoid {
        struct Change {
            /// Fingerprint of the voided event's (source, id): the block's origin.
            var origin: UInt64
        }

        @inline(__always)
        static func validate(_ e: DecodedEvent, subjectHash: UInt64, account: Int?, in ledger: LedgerState) throws(Rejection) -> Change {
            // The decoder requires `grant_id` for this type.
            let target = PartitionLedger.fingerprint(subjectHash: subjectHash, source: e.grantSource ?? e.source, id: e.grantID!)
            guard let i = account, ledger.accounts[i].extras.first?.knowsGrant(target) == true else { throw .unknownGrant }
            return Change(origin: target)
        }

        @inline(__always)
        static func apply(_ c: Change, _ e: DecodedEvent, to a: inout Account) {
            let removed = a.voidBlock(origin: c.origin)
            a.record(HistoryEntry(.grantVoided, time: e.time, credits: -removed))
        }
    }
}

extension Account {
    /// Removes what is left of the block that grant `origin` made (§12); returns the amount.
    mutating func voidBlock(origin: UInt64) -> Int64 {
        guard let i = blocks.firstIndex(where: { $0.origin == origin }) else { return 0 }
        let removed = blocks[i].remaining
        blocks.remove(at: i)
        blockCredits -= removed
        voided += removed
        entitlement -= removed
        return removed
    }

}
