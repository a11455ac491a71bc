extension PartitionLedger {
    /// A record of this partition that never became an event (malformed JSON, a missing
    /// attribute …): bad input like a rejection, and counted with them, so that the ledger's
    /// counters account for every record of the partition — the one set of counts the service
    /// reports from.
    public func countDecodeFailure() {
        state.counters.rejected += 1
    }
}
