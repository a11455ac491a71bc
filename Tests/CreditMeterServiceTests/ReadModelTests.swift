import CreditConfig
import CreditEngine
import CreditMeterService
import Kafka
import Testing

/// The read model alone, with no broker: what readers see while partitions are assigned,
/// restored, lagging and revoked.
@Suite struct ReadModelTests {
    static func views(_ accounts: [String]) throws -> [AccountView] {
        let ledger = PartitionLedger(config: try ShippedConfiguration.load(environment: [:]).engine)
        let decoder = EventDecoder()
        for (i, id) in accounts.enumerated() {
            let json = #"{"specversion":"1.0","id":"p\#(i)","source":"s","type":"credit.plan.assigned","subject":"\#(id)","time":"2026-11-01T00:00:00Z","data":{"plan":"trial"}}"#
            let bytes = Array(json.utf8)
            let key = Array(id.utf8)
            let result = try bytes.withUnsafeBytes { v in
                try key.withUnsafeBytes { k in ledger.apply(try decoder.decode(v), key: k, recordTime: nil) }
            }
            #expect(result.outcome == .applied)
        }
        return (0..<ledger.accountCount).map { ledger.view($0) }
    }

    @Test func readinessFollowsAssignmentRestoreAndLag() throws {
        let m = ReadModel()
        let p0 = TopicPartition("ai.usage", 0), p1 = TopicPartition("ai.usage", 1)
        #expect(m.readiness(maxLag: 10) == "the consuming loop is not running")
        m.setRunning(true)
        #expect(m.readiness(maxLag: 10) == "waiting for the first partition assignment")
        m.assigned([p0, p1])
        #expect(m.readiness(maxLag: 10) == "ai.usage/0 is being restored")
        m.restored(p0, position: 5, views: try Self.views(["a"]))
        m.restored(p1, position: nil, views: [])
        #expect(m.readiness(maxLag: 10) == "ai.usage/0: lag not known yet")
        m.watermarks([p0: (0, 20), p1: (1, 3)])
        #expect(m.readiness(maxLag: 10) == "ai.usage/0 lags by 15 records (ready_max_lag 10)")
        m.publish(p0, views: [], position: 12)
        #expect(m.readiness(maxLag: 10) == nil)
        #expect(m.partitions[p1]?.lag == 2)  // nothing applied yet: lag from the log start (1)
        m.revoked([p0])
        #expect(m.partitions.keys.sorted() == [p1])
        m.setRunning(false)
        #expect(m.readiness(maxLag: 10) == "the consuming loop is not running")
    }

    /// The loop publishes views with the ledger's account indices: new accounts
    /// past the end (with gaps), updates in place, and revocation, all found by id.
    @Test func viewsPublishedByAccountIndexAreFoundByIDAndReplacedInPlace() throws {
        let m = ReadModel()
        m.setRunning(true)
        let p0 = TopicPartition("ai.usage", 0)
        m.assigned([p0])
        let restored = try Self.views(["a"])
        m.restored(p0, position: 1, views: restored)
        let later = try Self.views(["a", "b", "c", "d"])  // a ledger where b, c, d came later
        m.publish(p0, indices: [3, 1], views: [later[3], later[1]], position: 4)
        guard case .found(let d) = m.account("d"), case .found(let b) = m.account("b") else { Issue.record("new accounts"); return }
        #expect(d.account == "d" && b.account == "b")
        guard case .notHeld = m.account("c") else { Issue.record("c has no view yet (a gap)"); return }
        #expect(m.accountCount == 3)
        #expect(m.page(after: nil, limit: 10) { _ in true }.views.map(\.account) == ["a", "b", "d"])
        #expect(m.summaries { _ in true }.count == 3)
        // An update replaces the view at its index; nothing is added.
        m.publish(p0, indices: [0], views: [later[0]], position: 5)
        guard case .found(let a) = m.account("a") else { Issue.record("a"); return }
        #expect(a.account == "a" && m.accountCount == 3)
        // Without indices (tests, tools): found by id, or appended.
        m.publish(p0, views: [later[2]], position: 6)
        guard case .found(let c) = m.account("c") else { Issue.record("c appended"); return }
        #expect(c.account == "c" && m.accountCount == 4)
        m.revoked([p0])
        #expect(m.accountCount == 0)
    }

    @Test func lookupsSayNotReadyUntilEveryPartitionIsRestored() throws {
        let m = ReadModel()
        m.setRunning(true)
        let p0 = TopicPartition("ai.usage", 0), p1 = TopicPartition("ai.usage", 1)
        guard case .notReady = m.account("a") else { Issue.record("before assignment"); return }
        m.assigned([p0, p1])
        m.restored(p0, position: 1, views: try Self.views(["a"]))
        guard case .found(let a) = m.account("a") else { Issue.record("a is restored"); return }
        #expect(a.account == "a" && a.state.balance == 100_000)
        guard case .notReady(let reason) = m.account("b") else { Issue.record("p1 is not restored yet"); return }
        #expect(reason == "ai.usage/1 is being restored")
        m.restored(p1, position: 1, views: try Self.views(["b"]))
        guard case .notHeld = m.account("c") else { Issue.record("c is held nowhere"); return }
        m.revoked([p1])
        guard case .notHeld = m.account("b") else { Issue.record("b left with its partition"); return }
        #expect(m.accountCount == 1)
        // Stopping (or not yet started): reads say not ready, never "unknown account".
        m.setRunning(false)
        guard case .notReady(let stopped) = m.account("a") else { Issue.record("stopped"); return }
        #expect(stopped == "the consuming loop is not running")
    }

    /// After a crash the snapshot covers less than was produced: reads wait until the replay
    /// has passed where the log ended at assignment (a view is never older than its account's
    /// latest balances record).
    @Test func readsWaitForTheReplayToPassTheLogEndAtAssignment() throws {
        let m = ReadModel()
        m.setRunning(true)
        let p0 = TopicPartition("ai.usage", 0)
        m.assigned([p0])
        m.restored(p0, position: 100, catchUpTo: 250, views: try Self.views(["a"]))
        guard case .notReady(let reason) = m.account("a") else { Issue.record("still replaying"); return }
        #expect(reason == "ai.usage/0 is replaying (at 100 of 250)")
        #expect(m.readableReason == "ai.usage/0 is replaying (at 100 of 250)")
        m.watermarks([p0: (0, 260)])
        #expect(m.readiness(maxLag: 1000) == "ai.usage/0 is replaying (at 100 of 250)")
        m.publish(p0, views: [], position: 250)
        guard case .found = m.account("a") else { Issue.record("caught up"); return }
        #expect(m.readiness(maxLag: 1000) == nil)
    }

    /// Ids are compared byte for byte, as the ledger does: NFC "é" and NFD "e\u{301}" are one
    /// Swift String but two accounts.
    @Test func canonicallyEquivalentIdsStayTwoAccounts() throws {
        let m = ReadModel()
        m.setRunning(true)
        let p0 = TopicPartition("t", 0), p1 = TopicPartition("t", 1)
        m.assigned([p0, p1])
        let nfc = "\u{E9}", nfd = "e\u{301}"
        m.restored(p0, position: 0, views: try Self.views([nfc]))
        m.restored(p1, position: 0, views: try Self.views([nfd]))
        #expect(m.accountCount == 2)
        guard case .found(let a) = m.account(nfc), case .found(let b) = m.account(nfd) else { Issue.record("both held"); return }
        #expect(Array(a.account.utf8) == [0xC3, 0xA9] && Array(b.account.utf8) == [0x65, 0xCC, 0x81])
        #expect(m.page(after: nil, limit: 10) { _ in true }.views.map { Array($0.account.utf8) } == [[0x65, 0xCC, 0x81], [0xC3, 0xA9]])
    }

    @Test func pagesFollowUTF8ByteOrderAcrossPartitions() throws {
        let m = ReadModel()
        m.setRunning(true)
        let p0 = TopicPartition("t", 0), p1 = TopicPartition("t", 1)
        m.assigned([p0, p1])
        // Byte order: "B" (0x42) < "a" (0x61) < "a/b" < "ab" < "é" (0xC3 0xA9).
        m.restored(p0, position: 0, views: try Self.views(["é", "a/b"]))
        m.restored(p1, position: 0, views: try Self.views(["ab", "B", "a"]))
        func ids(_ after: String?, _ limit: Int) -> ([String], String?) {
            let (v, next) = m.page(after: after, limit: limit) { _ in true }
            return (v.map(\.account), next)
        }
        #expect(ids(nil, 10) == (["B", "a", "a/b", "ab", "é"], nil))
        #expect(ids(nil, 2) == (["B", "a"], "a"))
        #expect(ids("a", 2) == (["a/b", "ab"], "ab"))
        #expect(ids("ab", 2) == (["é"], nil))
        #expect(ids("é", 2) == ([], nil))
        let (filtered, _) = m.page(after: nil, limit: 10) { $0.account.count == 1 }
        #expect(filtered.map(\.account) == ["B", "a", "é"])
        // A new account appears in the next listing.
        m.publish(p1, views: try Self.views(["aa"]), position: 1)
        #expect(ids("a", 2) == (["a/b", "aa"], "aa"))  // "/" (0x2F) sorts before "a" (0x61)
    }
}
