import CreditConfig
@testable import CreditMeterHTTP
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import KafkaMockCluster
import Logging
import Synchronization
import Testing

/// The directory over the real wire protocol: one instance announces, another reads it back.
@Suite(.timeLimit(.minutes(2))) struct OwnershipDirectoryTests {
    /// Polls `condition` until it holds or `seconds` pass.
    static func eventually(_ seconds: Int = 20, _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    @Test func announceReadBackRelease() async throws {
        var logger = Logger(label: "test.owners")
        logger.logLevel = .critical
        let cluster = try DevCluster(topics: [DevCluster.Topic("ai.usage", partitions: 4), DevCluster.Topic("credit.state", partitions: 1)],
                                     logger: logger)
        let kafka = ServiceConfiguration.Kafka()
        func directory(_ url: String?) -> OwnershipDirectory {
            OwnershipDirectory(stateTopic: "credit.state", inputTopic: "ai.usage", advertisedURL: url, kafka: kafka, logger: logger)
        }
        let a = directory("http://a.example:8080"), b = directory(nil), c = directory("http://c.example:8080")
        for d in [a, b, c] { try d.start(bootstrap: cluster.bootstrapServers) }
        #expect(a.instance != b.instance && a.instance.contains("-\(getpid())-"))

        // A state chunk (another key) on the same partition is skipped without decoding.
        let producer = try KafkaProducer(properties: [("bootstrap.servers", cluster.bootstrapServers)], logger: logger) { _ in }
        try Array("chunk/ai.usage/0/1".utf8).withUnsafeBytes { k in
            try [0xFF, 0x00, 0x7B].withUnsafeBytes { v in try producer.produce(producer.topic("credit.state"), partition: 0, key: k, value: v) }
        }
        try producer.flush(timeoutMs: 10_000)

        let p1 = TopicPartition("ai.usage", 1), p3 = TopicPartition("ai.usage", 3)
        a.announce([p1, p3], partitionCounts: ["ai.usage": 4])
        #expect(try await Self.eventually { b.owners.count == 2 })
        #expect(b.owner(of: p1)?.url == "http://a.example:8080" && b.owner(of: p1)?.instance == a.instance)
        #expect(b.owner(of: p3)?.url == "http://a.example:8080")
        #expect(b.owner(of: TopicPartition("ai.usage", 0)) == nil)
        #expect(try await Self.eventually { b.counts.skipped == 1 })
        // B learnt the partition count from the metadata (it holds nothing itself).
        #expect(b.partition(of: "acct-1") == TopicPartition("ai.usage", 2))
        #expect(b.partition(of: "abc") == p3)

        // A release writes "url": null.
        a.release([p1])
        #expect(try await Self.eventually { b.owner(of: p1)?.url == nil })
        #expect(b.owner(of: p1)?.instance == a.instance)

        // C takes p3 over before A's release of it lands: that late release changes nothing.
        c.announce([p3], partitionCounts: ["ai.usage": 4])
        #expect(try await Self.eventually { b.owner(of: p3)?.instance == c.instance })
        a.release([p3])
        #expect(try await Self.eventually { b.counts.read == 5 })  // 2 announced, 1 released, 1 taken over, 1 late release
        #expect(b.owner(of: p3)?.instance == c.instance)
        #expect(b.owner(of: p3)?.url == "http://c.example:8080")
        #expect(a.failedAnnouncements == 0)
        for d in [a, b, c] { d.stop() }
        a.stop()  // idempotent
    }
}

/// Contract §11's last bullet, live: instance A holds half the input partitions (a second group
/// member holds the rest) and the directory says a fake instance at `http://10.0.0.9:8080`
/// owns those. Nested in the endpoint suite: the metrics registry is process-wide.
extension HTTPEndpointTests {
@Suite(.serialized, .timeLimit(.minutes(3))) struct RedirectTests {
    static let elsewhere = "http://10.0.0.9:8080"

    @Test func accountsOwnedElsewhereAreRedirectedOnce() async throws {
        let h = try ServiceHarness(partitions: 4)
        try h.cluster!.cluster.createTopic("credit.state", partitions: 1)
        let stack = try await HTTPStack(harness: h, token: nil) { config in
            config.kafka.stateTopic = "credit.state"
            config.http.advertisedURL = "http://a.example:8080"
        }
        try await stack.startService()
        let c = stack.client
        let a = try #require(stack.service.ownership)
        #expect(try await OwnershipDirectoryTests.eventually { stack.service.readModel.partitions.count == 4 })
        // The loop announced every partition it restored, with its advertised URL.
        #expect(try await OwnershipDirectoryTests.eventually {
            (0..<4).allSatisfy { a.owner(of: TopicPartition("ai.usage", $0)) == .init(url: "http://a.example:8080", instance: a.instance,
                                                                                      timeMillis: a.owner(of: TopicPartition("ai.usage", $0))?.timeMillis ?? 0) }
        })

        // A second member of the group takes half of the partitions.
        let member = try KafkaConsumer(properties: [("bootstrap.servers", h.bootstrap), ("group.id", "test-group"),
                                                    ("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500"),
                                                    // Every member of a group must use the service's protocol.
                                                    ("partition.assignment.strategy", KafkaSettings.assignmentStrategy)], logger: h.logger)
        try member.subscribe(["ai.usage"])
        let stopMember = StopSignal()
        // Polled on a thread of its own (not one of the cooperative pool's two).
        let memberTask = Task { try await onOwnThread { while !stopMember.isRequested { member.poll(timeoutMs: 100) { _ in } } } }
        #expect(try await OwnershipDirectoryTests.eventually(40) {
            stack.service.readModel.partitions.count == 2 && stack.service.readModel.readableReason == nil
        })
        let held = Set(stack.service.readModel.partitions.keys.map(\.partition))
        let away = Set<Int32>(0..<4).subtracting(held)
        #expect(held.count == 2 && away.count == 2)
        // The loop released what moved to the other member ("url": null) and announced what it kept.
        #expect(try await OwnershipDirectoryTests.eventually {
            away.allSatisfy { a.owner(of: TopicPartition("ai.usage", $0)).map { $0.url == nil && $0.instance == a.instance } ?? false }
                && held.allSatisfy { a.owner(of: TopicPartition("ai.usage", $0))?.url == "http://a.example:8080" }
        })
        let local = try #require((0..<1000).map { "acct-\($0)" }.first { held.contains(KeyPartitioner.partition(account: $0, count: 4)) })
        let ghost = try #require((0..<1000).map { "ghost-\($0)" }.first { held.contains(KeyPartitioner.partition(account: $0, count: 4)) })
        let remote = try #require((0..<1000).map { "acct-\($0)" }.first { away.contains(KeyPartitioner.partition(account: $0, count: 4)) })
        try h.produce(event("credit.plan.assigned", local, id: "p-local", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), key: local)
        let viewDeadline = ContinuousClock.now + .seconds(20)
        while try await c.request("/v1/accounts/\(local)").status != 200 && ContinuousClock.now < viewDeadline {
            try await Task.sleep(for: .milliseconds(50))
        }

        // Before anyone announced the other half: 503, owner unknown (A released them when they moved).
        let unknown = try await c.request("/v1/accounts/\(remote)")
        #expect(unknown.status == 503)
        #expect((unknown.json["error"] as? String ?? "").hasPrefix("not ready: "))

        // The fake instance announces the partitions A does not hold.
        let fake = OwnershipDirectory(stateTopic: "credit.state", inputTopic: "ai.usage", advertisedURL: Self.elsewhere,
                                      kafka: ServiceConfiguration.Kafka(), logger: h.logger)
        try fake.start(bootstrap: h.bootstrap)
        fake.announce(away.sorted().map { TopicPartition("ai.usage", $0) }, partitionCounts: ["ai.usage": 4])
        #expect(try await OwnershipDirectoryTests.eventually {
            away.allSatisfy { stack.service.ownership?.owner(of: TopicPartition("ai.usage", $0))?.url == Self.elsewhere }
        })

        // 307 to the owner: path and query as sent, plus the one-hop marker.
        for (target, location) in [
            ("/v1/accounts/\(remote)?x=1", "\(Self.elsewhere)/v1/accounts/\(remote)?x=1&redirected=1"),
            ("/v1/accounts/\(remote)", "\(Self.elsewhere)/v1/accounts/\(remote)?redirected=1"),
            ("/v1/accounts/\(remote)/check?action=chat&time=2026-11-05T00:00:00%2B01:00",
             "\(Self.elsewhere)/v1/accounts/\(remote)/check?action=chat&time=2026-11-05T00:00:00%2B01:00&redirected=1"),
            ("/v1/accounts/\(remote)/history?limit=5", "\(Self.elsewhere)/v1/accounts/\(remote)/history?limit=5&redirected=1"),
            ("/ui/accounts/\(remote)?token=t0k", "\(Self.elsewhere)/ui/accounts/\(remote)?token=t0k&redirected=1"),
        ] {
            let r = try await c.request(target)
            #expect(r.status == 307, "\(target): \(r.text)")
            #expect(r.headers["location"] == location, "\(target)")
        }
        // Already redirected once and still not held here: 503, never a second hop.
        let twice = try await c.request("/v1/accounts/\(remote)?redirected=1")
        #expect(twice.status == 503)
        let reason = twice.json["error"] as? String ?? ""
        #expect(reason.hasPrefix("not ready: ") && reason.contains("owner moved"), "\(reason)")
        #expect(try await c.request("/v1/accounts/\(remote)/check?action=chat&redirected=1").status == 503)
        #expect(try await c.request("/v1/accounts/\(remote)?redirected=2").status == 400)

        // Accounts of partitions held here: exactly as one instance answers.
        let found = try await c.request("/v1/accounts/\(local)?redirected=1")
        #expect(try await c.request("/v1/accounts/\(local)?redirected=yes").status == 400)
        #expect(found.status == 200 && found.json["account"] as? String == local)
        #expect(try await c.request("/v1/accounts/\(ghost)").status == 404)
        let check = try await c.request("/v1/accounts/\(ghost)/check?action=chat")
        #expect(check.status == 200 && check.json["reason"] as? String == "unknown_account")
        // The listing never redirects.
        let listing = try await c.request("/v1/accounts")
        #expect(listing.status == 200)
        #expect(((listing.json["accounts"] as? [[String: Any]]) ?? []).compactMap { $0["account"] as? String } == [local])

        // The owner released its partitions: 503 with a reason, no redirect.
        fake.release(away.sorted().map { TopicPartition("ai.usage", $0) })
        #expect(try await OwnershipDirectoryTests.eventually {
            away.allSatisfy { stack.service.ownership?.owner(of: TopicPartition("ai.usage", $0))?.url == nil }
        })
        let released = try await c.request("/v1/accounts/\(remote)")
        #expect(released.status == 503 && (released.json["error"] as? String ?? "").contains("no advertised_url"), "\(released.text)")

        let metrics = try await c.request("/metrics").text
        #expect(metrics.contains("credit_meter_http_requests_total{route=\"/v1/accounts/{account}\",code=\"307\"} 2"))
        #expect(metrics.contains("credit_meter_http_requests_total{route=\"/v1/accounts/{account}/check\",code=\"307\"} 1"))

        fake.stop()
        // The member leaves cleanly first (its partitions come back to A), then A stops.
        stopMember.request()
        try await memberTask.value
        member.close()
        // A stop in the middle of the rebalance that follows may find its partitions lost (no
        // checkpoint, no release: the next owner replays); this test wants the settled case.
        #expect(try await OwnershipDirectoryTests.eventually(40) {
            stack.service.readModel.partitions.count == 4 && stack.service.readModel.readableReason == nil
        })
        try await stack.stop()

        // On the wire: A's last word on the partitions it held at its clean stop is a release.
        let all = try h.readAll("credit.state")
        // The state topic also holds the partitions' checkpoints; owner records live on partition 0.
        #expect(all.allSatisfy { ($0.key ?? "").hasPrefix("owner/ai.usage/") || ($0.key ?? "").hasPrefix("state/ai.usage/") })
        let records = all.filter { ($0.key ?? "").hasPrefix("owner/") }
        #expect(!records.isEmpty && records.allSatisfy { $0.partition == 0 })
        // The partition that got a record was checkpointed (one with no records has no state to write).
        #expect(all.contains { $0.key == "state/ai.usage/\(KeyPartitioner.partition(account: local, count: 4))/manifest" })
        for p in held {
            let last = try #require(records.last { $0.key == "owner/ai.usage/\(p)" })
            #expect(last.value.hasPrefix("{\"url\":null,\"instance\":\"\(a.instance)\",\"time\":"), "\(last.value)")
        }
    }
}
}
