import CreditEngine
import Kafka

/// What the loop publishes besides each record's own outputs, and how much at a time: read
/// views and positions (the read model, §11) and coalesced balances documents (§6). When is
/// the state machine's to say (`LoopStateMachine.Due`); this says what.
///
/// Views are copies (copy-on-write for the account value), built here on the consuming thread;
/// HTTP threads only ever see finished views. A view is published before its account's
/// balances record, so it is never older than that record; a replaying partition is not
/// readable, so its views wait for the publish that moves its position past the replay.
struct OutputCadence {
    let output: OutputPublisher
    let model: ReadModel
    let consumer: KafkaConsumer
    let counts: RecordCounts

    /// Balances documents published per pass at most, so that a burst of them never holds up
    /// incoming records (and the alerts they cause) for long: a pass of this many, with the
    /// views built before them, takes ≈ 1–2 ms; the loop polls between passes and, while more
    /// are due, does not wait in the poll.
    static let balancesBudget = 250

    /// Publishes the views of the accounts changed since the last call, with each partition's
    /// position — the one place positions are published — and the watermarks from the
    /// consumer's last fetch responses (cached by librdkafka, no request), so lag in `/readyz`
    /// and `/metrics` uses positions and log ends of the same moment.
    func publishViews<Parts: Sequence<PartitionState>>(_ parts: Parts) {
        var marks: [TopicPartition: (low: Int64, high: Int64)] = [:]
        for st in parts { publishViews(st, marks: &marks) }
        if !marks.isEmpty { model.watermarks(marks) }
    }

    /// One step of a views round (`MeterLoop`): publishes the views of the partitions at the
    /// front of `round`, taking them off it, until `budget` is spent (at least one partition):
    /// a round of many changed accounts is spread over several loop iterations, with polls in
    /// between, instead of holding up incoming records for all of it. Partitions no longer
    /// held (`state` nil) are skipped. Returns the partitions published.
    func publishViews(round: inout ArraySlice<TopicPartition>, state: (TopicPartition) -> PartitionState?,
                      budget: Duration) -> [PartitionState] {
        let started = ContinuousClock.now
        var marks: [TopicPartition: (low: Int64, high: Int64)] = [:]
        var published: [PartitionState] = []
        while let tp = round.popFirst() {
            guard let st = state(tp) else { continue }
            publishViews(st, marks: &marks)
            published.append(st)
            if ContinuousClock.now - started >= budget { break }
        }
        if !marks.isEmpty { model.watermarks(marks) }
        return published
    }

    private func publishViews(_ st: PartitionState, marks: inout [TopicPartition: (low: Int64, high: Int64)]) {
        if let w = consumer.cachedWatermarks(st.tp) { marks[st.tp] = w }
        st.viewedCounters = st.ledger.counters
        st.tallyViewed.add(st.tallySinceViews)
        st.tallySinceViews = RecordCounts.Tally()
        guard st.hasViewsToPublish || st.viewPosition != st.nextOffset else { return }
        let changed = st.isReplaying ? [] : st.takeViewDirty()
        counts.viewsBuilt(changed.count)
        model.publish(st.tp, indices: changed, views: changed.map { st.ledger.view($0) }, position: st.position)
        st.viewPosition = st.nextOffset
    }

    /// The views of these accounts of `st` that changed since their last publish, now rather
    /// than at the next pass: a hold request answered over HTTP (§15) can be read back at
    /// once. Nothing while the partition replays (its accounts are not readable).
    func publishViews(of accounts: [Int], in st: PartitionState) {
        guard !st.isReplaying else { return }
        let changed = accounts.filter { st.takeViewMark($0) }
        guard !changed.isEmpty else { return }
        counts.viewsBuilt(changed.count)
        model.publish(st.tp, indices: changed, views: changed.map { st.ledger.view($0) }, position: nil)
    }

    /// A partition just restored: every account it holds becomes readable (or, when it must
    /// replay first, waits for the replay's end), at its restored position.
    func publishRestored(_ st: PartitionState) {
        var views: [AccountView] = []
        if st.isReplaying {
            st.markAllViews()
        } else {
            let ledger = st.ledger
            views = (0..<ledger.accountCount).map { ledger.view($0) }
            counts.viewsBuilt(views.count)
        }
        model.restored(st.tp, position: st.position, catchUpTo: st.isReplaying ? st.replayingUntil : nil, views: views)
        st.viewPosition = st.nextOffset
    }

    /// The coalesced balances documents become due: those of non-replaying partitions, and
    /// with `replaying` those of replaying ones too.
    func makeBalancesDue<Parts: Sequence<PartitionState>>(_ parts: Parts, replaying: Bool) {
        for st in parts where !st.isReplaying || replaying { st.tick() }
    }

    /// Publishes due balances documents, at most `balancesBudget` per pass; returns how many.
    @discardableResult
    func publishDueBalances<Parts: Sequence<PartitionState>>(_ parts: Parts) throws -> Int {
        guard output.balances != nil else { return 0 }
        var left = Self.balancesBudget
        for st in parts where st.hasDue {
            let due = st.takeDue(limit: left)
            // An account whose records changed it since its view was published is about to
            // reach the balances topic: its view goes first (only those, not the partition's).
            let changed = st.isReplaying ? [] : due.filter { st.takeViewMark($0) }
            counts.viewsBuilt(changed.count)
            if !changed.isEmpty { model.publish(st.tp, indices: changed, views: changed.map { st.ledger.view($0) }, position: nil) }
            for i in due {
                try output.publishBalance(st.ledger, i)
                counts.balancePublished()
                left -= 1
            }
            if left == 0 { break }
        }
        return Self.balancesBudget - left
    }

    /// The current balances document of the account `key` names, now, under `tag` (the number
    /// of the document it replaces), if one of `parts` holds it (its view first when it
    /// changed): what replaces a document reported delivered without an offset (see
    /// `OutputPublisher`). An account no longer held is left to the partition's next owner,
    /// which replays every record its snapshot does not cover (false).
    func republishBalance<Parts: Sequence<PartitionState>>(account key: [UInt8], tag: UInt64, in parts: Parts) throws -> Bool {
        let id = String(decoding: key, as: UTF8.self)
        guard let (st, i) = parts.lazy.compactMap({ st in st.ledger.accountIndex(id).map { (st, $0) } }).first else { return false }
        if !st.isReplaying && st.takeViewMark(i) {
            counts.viewsBuilt(1)
            model.publish(st.tp, indices: [i], views: [st.ledger.view(i)], position: nil)
        }
        try output.publishBalance(st.ledger, i, replacing: tag)
        counts.balancePublished()
        return true
    }

    /// Every pending view and balances document of these partitions, now (before a revoke's
    /// snapshot, or before captures are handed over at an assignment change, so that the last
    /// record per key is current).
    func publishAll(_ parts: [PartitionState]) throws {
        publishViews(parts)
        guard output.balances != nil else { return }
        for st in parts {
            st.tick()
            for i in st.takeDue(limit: nil) {
                try output.publishBalance(st.ledger, i)
                counts.balancePublished()
            }
        }
    }
}
