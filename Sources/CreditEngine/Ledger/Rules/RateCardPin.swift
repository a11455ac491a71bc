extension Rules {
    /// `credit.ratecard.pinned` (contract §2, §3): the account is priced on that rate-card
    /// version until `until` (or for good); a null version unpins it. Rejected: a version the
    /// configuration does not have.
    enum RateCardPin {
        struct Change {
            /// Rate-card version index, or −1 to unpin.
            var version: Int32
        }

        @inline(__always)
        static func validate(_ e: DecodedEvent, config: EngineConfiguration) throws(Rejection) -> Change {
            guard let v = e.version else { return Change(version: -1) }
            guard let i = config.rateCards.index(ofVersion: v) else { throw .unknownRateCardVersion }
            return Change(version: Int32(i))
        }

        @inline(__always)
        static func apply(_ c: Change, _ e: DecodedEvent, to a: inout Account) {
            a.pinnedVersion = c.version
            a.pinUntil = c.version >= 0 ? (e.until ?? .max) : .max
        }
    }
}
