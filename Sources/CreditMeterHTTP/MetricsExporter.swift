import CreditConfig
public import CreditMeterService
import CoreMetrics
public import Kafka
public import Prometheus
import Synchronization

/// Prometheus export (contract §11). swift-prometheus is the swift-metrics backend: what the
/// service records through swift-metrics (snapshot durations and sizes, HTTP requests by
/// route template and code, their durations) lands in `registry`. Values that are state rather than events —
/// consumer lag per partition, accounts held, snapshot age — are written from the read model
/// and the service's status at each scrape (per service, not through the shared registry), so
/// they are current and a revoked partition's lag disappears. The record,
/// credit and alert counters are written from the service's own counters: exact (credits are
/// integer millicredits written as a decimal; a floating-point counter would drift) and per
/// service rather than per process. Per process, at each scrape: build information, the
/// process's CPU, memory and descriptors (`ProcessMetrics`), and the Kafka clients' broker
/// trouble from librdkafka's statistics (`KafkaStatistics`). Every family has HELP text.
public final class MetricsExporter: Sendable {
    public let registry: PrometheusCollectorRegistry
    let model: ReadModel
    let status: @Sendable () -> ServiceStatus
    private let requestCounters = Mutex<[RequestKey: CoreMetrics.Counter]>([:])
    /// `credit_meter_http_request_duration_seconds{route}`, one per route, made up front: a
    /// request only looks its route up (no lock, no allocation beyond the histogram's own).
    private let requestDurations: [API.Route: DurationHistogram]
    /// `credit_meter_hold_decision_seconds`: a hold request (§15), from the request to its answer.
    private let holdDecisions: DurationHistogram
    private let kafkaStatistics: @Sendable () -> [KafkaStatistics]
    private let process = ProcessMetrics()

    private struct RequestKey: Hashable {
        let route: API.Route
        let code: Int
    }

    /// - Parameters:
    ///   - registry: the registry bootstrapped as the metrics backend (`MetricsBootstrap`).
    ///   - status: the service's counters (credits charged, last snapshot).
    /// The wall clock for the snapshot's age (nanoseconds since 1970).
    let now: WallClock

    /// - Parameter kafkaStatistics: the Kafka clients' latest statistics (tests pass their own).
    public init(registry: PrometheusCollectorRegistry, model: ReadModel, status: @escaping @Sendable () -> ServiceStatus,
                now: @escaping WallClock = systemWallClock,
                kafkaStatistics: @escaping @Sendable () -> [KafkaStatistics] = KafkaStatistics.ofThisProcess) {
        self.registry = registry
        self.model = model
        self.status = status
        self.now = now
        self.kafkaStatistics = kafkaStatistics
        let name = RegistryMetrics.requestDuration
        requestDurations = Dictionary(uniqueKeysWithValues: API.Route.allCases.map { route in
            (route, registry.makeDurationHistogram(descriptor: RegistryMetrics.descriptor(name), labels: [("route", route.rawValue)],
                                                   buckets: RegistryMetrics.durationBuckets[name]!))
        })
        holdDecisions = registry.makeDurationHistogram(descriptor: RegistryMetrics.descriptor(RegistryMetrics.holdDecision), labels: [],
                                                       buckets: RegistryMetrics.durationBuckets[RegistryMetrics.holdDecision]!)
    }

    /// `credit_meter_hold_decision_seconds`: one hold request answered after `duration`.
    func recordHoldDecision(_ duration: Duration) {
        holdDecisions.record(duration)
    }

    /// `credit_meter_http_requests_total{route, code}` and
    /// `credit_meter_http_request_duration_seconds{route}` (route = the template).
    func record(_ route: API.Route, code: Int, duration: Duration) {
        requestDurations[route]?.record(duration)
        let key = RequestKey(route: route, code: code)
        let counter = requestCounters.withLock { cache in
            if let c = cache[key] { return c }
            let c = CoreMetrics.Counter(label: "credit_meter_http_requests_total", dimensions: [("route", route.rawValue), ("code", String(code))])
            cache[key] = c
            return c
        }
        counter.increment()
    }

    /// The Prometheus text exposition.
    public func render() -> [UInt8] {
        let s = status()
        let nowMillis = now() / 1_000_000
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        registry.emit(into: &out)
        // The service's own counters, exact and per service (not process-global): records by
        // outcome, credits charged (integer millicredits written as an exact decimal), alerts by type.
        var text = ""
        MetricsText.family(&text, "credit_meter_records_total", .counter, "Input records by outcome, each counted once per process.")
        for (outcome, value) in [("applied", s.applied), ("duplicate", s.duplicates), ("dead_lettered", s.deadLettered)] {
            text += "credit_meter_records_total{outcome=\"\(outcome)\"} \(value)\n"
        }
        // Records applied again after an assignment was lost without a snapshot: counted once
        // above, the repeat work here (a rising figure means snapshots are too far apart).
        MetricsText.family(&text, "credit_meter_records_reread_total", .counter,
                           "Records applied again after a partition came back restored from older state.")
        text += "credit_meter_records_reread_total \(s.reread)\n"
        MetricsText.family(&text, "credit_meter_credits_charged_total", .counter, "Credits charged by usage events (exact).")
        text += "credit_meter_credits_charged_total \(Self.exact(s.creditsChargedMillicredits))\n"
        MetricsText.family(&text, "credit_meter_holds_total", .counter,
                           "Holds: requests granted and denied (a repeated hold_id is neither), holds released and expired.")
        for (outcome, value) in [("granted", s.holds.granted), ("denied", s.holds.denied), ("released", s.holds.released),
                                 ("expired", s.holds.expired)] {
            text += "credit_meter_holds_total{outcome=\"\(outcome)\"} \(value)\n"
        }
        MetricsText.family(&text, "credit_meter_usage_unheld_total", .counter,
                           "Usage events naming a hold that is unknown or ended (charged all the same, without a reservation).")
        text += "credit_meter_usage_unheld_total \(s.holds.usageUnheld)\n"
        MetricsText.family(&text, "credit_meter_alerts_published_total", .counter, "Alerts published, by CloudEvent type.")
        for (type, value) in s.alertsByType.sorted(by: { $0.key < $1.key }) {
            text += "credit_meter_alerts_published_total{type=\"\(type)\"} \(value)\n"
        }
        MetricsText.family(&text, "credit_meter_hold_expiries_produced_total", .counter,
                           "credit.hold.expired events written to the input for holds due without other traffic (acknowledged with an offset).")
        text += "credit_meter_hold_expiries_produced_total \(s.holdExpiriesProduced)\n"
        // State, not events: written from this service's read model and status at each scrape (so it is
        // current, a revoked partition's lag disappears, and two services in one process —
        // tests — never see each other's values).
        MetricsText.family(&text, "credit_meter_consumer_lag", .gauge,
                           "Records behind: the partition's high watermark minus the next offset to apply.")
        for (tp, p) in model.partitions.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            text += "credit_meter_consumer_lag{topic=\"\(tp.topic)\",partition=\"\(tp.partition)\"} \(Double(p.lag ?? 0))\n"
        }
        MetricsText.family(&text, "credit_meter_accounts", .gauge, "Accounts this instance holds.")
        text += "credit_meter_accounts \(Double(model.accountCount))\n"
        // Ids remembered by the partitions held here (§14): the dedupe tables (about 20–29 B
        // each) and the grant and top-up ids kept for good (8 B each).
        MetricsText.family(&text, "credit_meter_remembered_ids", .gauge,
                           "Event ids the held partitions remember: kind=window (usage and other ids within the dedupe window), kind=purchase (grant and top-up ids, kept for good).")
        text += "credit_meter_remembered_ids{kind=\"window\"} \(Double(s.rememberedIDs.window))\n"
        text += "credit_meter_remembered_ids{kind=\"purchase\"} \(Double(s.rememberedIDs.purchases))\n"
        let age = s.lastSnapshotWallMillis > 0 ? Double(max(0, nowMillis - s.lastSnapshotWallMillis)) / 1000 : -1
        MetricsText.family(&text, "credit_meter_snapshot_age_seconds", .gauge,
                           "Seconds since the newest snapshot became durable; -1 before the first.")
        text += "credit_meter_snapshot_age_seconds \(age)\n"
        // Per process.
        MetricsText.family(&text, "credit_meter_build_info", .gauge, "The running build: credit-meter's and librdkafka's versions.")
        text += "credit_meter_build_info{version=\"\(MetricsText.label(CreditMeterVersion.string))\",librdkafka=\"\(MetricsText.label(librdkafkaVersion))\"} 1\n"
        process.render(into: &text)
        Self.render(kafkaStatistics(), into: &text)
        out.append(contentsOf: text.utf8)
        return out
    }

    /// librdkafka's per-broker counters, cumulative since each client was created.
    static func render(_ clients: [KafkaStatistics], into text: inout String) {
        typealias Counter = (name: String, help: String, kinds: [(kind: String?, value: KeyPath<KafkaStatistics.Broker, Int64>)])
        let counters: [Counter] = [
            ("credit_meter_kafka_broker_errors_total",
             "Kafka request errors librdkafka retries on its own, per client and broker: transmit (txerrs), receive (rxerrs), request_timeout (req_timeouts).",
             [("transmit", \.transmitErrors), ("receive", \.receiveErrors), ("request_timeout", \.requestTimeouts)]),
            ("credit_meter_kafka_broker_retries_total", "Kafka requests librdkafka sent again (txretries), per client and broker.",
             [(nil, \.retries)]),
            ("credit_meter_kafka_broker_disconnects_total", "Kafka broker connections lost (disconnects), per client and broker.",
             [(nil, \.disconnects)]),
            ("credit_meter_kafka_broker_connects_total", "Kafka broker connection attempts, failed ones included (connects), per client and broker.",
             [(nil, \.connects)]),
        ]
        guard clients.contains(where: { !$0.brokers.isEmpty }) else { return }
        for counter in counters {
            MetricsText.family(&text, counter.name, .counter, counter.help)
            for client in clients {
                let clientLabel = MetricsText.label(client.client)
                for broker in client.brokers {
                    let labels = "client=\"\(clientLabel)\",broker=\"\(MetricsText.label(broker.name))\""
                    for (kind, value) in counter.kinds {
                        let kindLabel = kind.map { ",kind=\"\($0)\"" } ?? ""
                        text += "\(counter.name){\(labels)\(kindLabel)} \(broker[keyPath: value])\n"
                    }
                }
            }
        }
    }

    /// Millicredits as an exact decimal number of credits ("1234.567").
    static func exact(_ millicredits: Int64) -> String {
        let sign = millicredits < 0 ? "-" : ""
        let m = millicredits.magnitude
        let frac = m % 1000
        let fracText = frac == 0 ? "" : "." + String(String(frac + 1000).dropFirst()).replacing(/0+$/, with: "")
        return sign + String(m / 1000) + fracText
    }
}

/// Bootstraps swift-metrics with a Prometheus registry, once per process.
public enum MetricsBootstrap {
    private static let shared = Mutex<PrometheusCollectorRegistry?>(nil)

    /// The process's registry, bootstrapping the metrics system on first use.
    public static func registry() -> PrometheusCollectorRegistry {
        shared.withLock { r in
            if let r { return r }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(DescribedPrometheusFactory(registry: registry))
            r = registry
            return registry
        }
    }
}
