package import CreditConfig
import Kafka

/// How configuration becomes librdkafka properties. CreditMeter's defaults first, then the
/// user's `kafka.properties` as given (they win).
package enum KafkaSettings {
    package static func common(_ k: ServiceConfiguration.Kafka, bootstrap: String) -> [(String, String)] {
        [("bootstrap.servers", bootstrap), ("client.id", "credit-meter")]
    }

    /// The user's properties, but `statistics.interval.ms`: that one goes to the clients
    /// `statistics` names only.
    package static func user(_ k: ServiceConfiguration.Kafka) -> [(String, String)] {
        k.properties.filter { $0.key != statisticsProperty }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// librdkafka's statistics (`KafkaStatistics`: per-broker errors, retries, timeouts,
    /// disconnects that librdkafka otherwise retries silently, for `/metrics`), every 10 s
    /// unless `kafka.properties` says otherwise (`0`: off). Only for the clients the consuming
    /// thread polls all the time — the group consumer and the output producer: librdkafka
    /// queues a document per interval until the client is polled, so a client polled only now
    /// and then (the state topic's producer, between checkpoints) would pile them up.
    package static func statistics(_ k: ServiceConfiguration.Kafka) -> [(String, String)] {
        [(statisticsProperty, k.properties[statisticsProperty] ?? "10000")]
    }

    package static let statisticsProperty = "statistics.interval.ms"

    /// Prefetch: librdkafka 2.0.2 stops fetching once the consumer queue holds
    /// `queued.min.messages` records (default 100 000) and is slow to resume, which starves a
    /// consumer that does real work per batch (measured: 0.12× raw consumption). The count is
    /// raised; memory stays bounded by `queued.max.messages.kbytes` (128 MiB).
    package static let prefetch: [(String, String)] = [
        ("queued.min.messages", "1000000"),
        ("queued.max.messages.kbytes", "131072"),
    ]

    /// The service's group consumer. A 6 s session timeout (instead of 45 s) lets a
    /// restarted instance get its partitions back within seconds after a crash.
    package static func consumer(_ k: ServiceConfiguration.Kafka, bootstrap: String) -> [(String, String)] {
        common(k, bootstrap: bootstrap) + [
            ("group.id", k.groupID),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1500"),
            ("max.poll.interval.ms", "300000"),
            // Alerts are due within milliseconds: brokers that do not answer a fetch early when
            // data arrives (the mock cluster) would otherwise add up to this much to each one.
            ("fetch.wait.max.ms", "10"),
            // Positions come from snapshots; one the topic no longer holds is an error, never a
            // silent jump (which would lose records or apply them twice).
            ("auto.offset.reset", "error"),
            // Contract §13: cooperative-sticky where the linked librdkafka supports it safely
            // (a rebalance then moves only the partitions that change owner); eager `range`
            // with older ones (see `assignmentStrategy`).
            ("partition.assignment.strategy", assignmentStrategy),
        ] + prefetch + user(k) + statistics(k)
    }

    /// The group's assignment strategy: `cooperative-sticky` with librdkafka ≥ 2.3.0; before
    /// that its sticky assignor can abort the process when a consumer is destroyed
    /// (librdkafka#4312 — it did, in this project's test runs on Debian's 2.0.2), so `range`
    /// (eager: every rebalance revokes everything; unchanged partitions cost no checkpoint and
    /// come back from the local snapshot). `kafka.properties` may override it.
    package static var assignmentStrategy: String {
        KafkaConsumer.cooperativeStickyIsSafe ? "cooperative-sticky" : "range"
    }

    /// The strategy a configuration ends up with (a user's `kafka.properties` wins).
    package static func effectiveAssignmentStrategy(_ k: ServiceConfiguration.Kafka) -> String {
        k.properties["partition.assignment.strategy"] ?? assignmentStrategy
    }

    package static func producer(_ k: ServiceConfiguration.Kafka, bootstrap: String) -> [(String, String)] {
        // A 2 ms linger: with 0, every alert is a request of its own, and where the broker
        // shares the service's cores (the one-process latency bench) that doubled p50 and
        // p99 at 10k events/s; 2 ms costs an alert at most 2 ms (docs/performance.md).
        producer(k, bootstrap: bootstrap, lingerMs: "2")
    }

    /// The producer of hold requests made over HTTP (`HoldGateway`): no linger. A request's
    /// answer waits for its event to cross the broker, so a linger adds to every decision (2 ms
    /// measured half the median hold decision, 4.5 against 2.3 ms); holds sustained per second
    /// did not drop measurably (docs/performance.md, Holds).
    package static func holdProducer(_ k: ServiceConfiguration.Kafka, bootstrap: String) -> [(String, String)] {
        producer(k, bootstrap: bootstrap, lingerMs: "0")
    }

    private static func producer(_ k: ServiceConfiguration.Kafka, bootstrap: String, lingerMs: String) -> [(String, String)] {
        common(k, bootstrap: bootstrap) + [
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", lingerMs),
            ("partitioner", "murmur2_random"),
        ] + user(k).filter { !consumerOnly.contains($0.0) }
    }

    /// The producer of the service's outputs (alerts, dead letters, balances, requests): the
    /// producer settings plus statistics.
    package static func outputProducer(_ k: ServiceConfiguration.Kafka, bootstrap: String) -> [(String, String)] {
        producer(k, bootstrap: bootstrap) + statistics(k)
    }

    /// A consumer outside the group (replay, benchmarks, tests).
    package static func reader(_ k: ServiceConfiguration.Kafka, bootstrap: String) -> [(String, String)] {
        common(k, bootstrap: bootstrap) + [("fetch.wait.max.ms", "10")] + prefetch + user(k).filter { !$0.0.hasPrefix("group.") }
    }

    package static let consumerOnly: Set<String> = [
        "group.id", "group.instance.id", "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms",
        "auto.offset.reset", "enable.auto.commit", "partition.assignment.strategy", "fetch.wait.max.ms",
        "fetch.min.bytes", "isolation.level",
    ]
}
