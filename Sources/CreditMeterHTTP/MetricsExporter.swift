public import CreditMeterService
import CoreMetrics
import Kafka
public import Prometheus
import Synchronization

/// Prometheus export (contract §11). swift-prometheus is the swift-metrics backend: what the
/// service records through swift-metrics (snapshot durations and sizes, HTTP requests by
/// route template and code) lands in `registry`. Values that are state rather than events —
/// consumer lag per partition, accounts held, snapshot age — are written from the read model
/// and the service's status at each scrape (per service, not through the shared registry), so
/// they are current and a revoked partition's lag disappears. The record,
/// credit and alert counters are written from the service's own counters: exact (credits are
/// integer millicredits written as a decimal; a floating-point counter would drift) and per
/// service rather than per process.
public final class MetricsExporter: Sendable {
    public let registry: PrometheusCollectorRegistry
    let model: ReadModel
    let status: @Sendable () -> ServiceStatus
    private let requestCounters = Mutex<[String: CoreMetrics.Counter]>([:])

    /// - Parameters:
    ///   - registry: the registry bootstrapped as the metrics backend (`MetricsBootstrap`).
    ///   - status: the service's counters (credits charged, last snapshot).
    /// The wall clock for the snapshot's age (nanoseconds since 1970).
    let now: WallClock

    public init(registry: PrometheusCollectorRegistry, model: ReadModel, status: @escaping @Sendable () -> ServiceStatus,
                now: @escaping WallClock = systemWallClock) {
        self.registry = registry
        self.model = model
        self.status = status
        self.now = now
    }

    /// `credit_meter_http_requests_total{route, code}` (route = the template).
    func countRequest(route: String, code: Int) {
        let key = "\(route) \(code)"
        let counter = requestCounters.withLock { cache in
            if let c = cache[key] { return c }
            let c = CoreMetrics.Counter(label: "credit_meter_http_requests_total", dimensions: [("route", route), ("code", String(code))])
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
        var text = "# TYPE credit_meter_records_total counter\n"
        for (outcome, value) in [("applied", s.applied), ("duplicate", s.duplicates), ("dead_lettered", s.deadLettered)] {
            text += "credit_meter_records_total{outcome=\"\(outcome)\"} \(value)\n"
        }
        // Records applied again after an assignment was lost without a snapshot: counted once
        // above, the repeat work here (a rising figure means snapshots are too far apart).
        text += "# TYPE credit_meter_records_reread_total counter\ncredit_meter_records_reread_total \(s.reread)\n"
        text += "# TYPE credit_meter_credits_charged_total counter\ncredit_meter_credits_charged_total \(Self.exact(s.creditsChargedMillicredits))\n"
        text += "# TYPE credit_meter_alerts_published_total counter\n"
        for (type, value) in s.alertsByType.sorted(by: { $0.key < $1.key }) {
            text += "credit_meter_alerts_published_total{type=\"\(type)\"} \(value)\n"
        }
        // State, not events: written from this service's read model and status at each scrape (so it is
        // current, a revoked partition's lag disappears, and two services in one process —
        // tests — never see each other's values).
        text += "# TYPE credit_meter_consumer_lag gauge\n"
        for (tp, p) in model.partitions.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }) {
            text += "credit_meter_consumer_lag{topic=\"\(tp.topic)\",partition=\"\(tp.partition)\"} \(Double(p.lag ?? 0))\n"
        }
        text += "# TYPE credit_meter_accounts gauge\ncredit_meter_accounts \(Double(model.accountCount))\n"
        // Ids remembered by the partitions held here (§14): the dedupe tables (about 20–29 B
        // each) and the grant and top-up ids kept for good (8 B each).
        text += "# TYPE credit_meter_remembered_ids gauge\n"
        text += "credit_meter_remembered_ids{kind=\"window\"} \(Double(s.rememberedIDs.window))\n"
        text += "credit_meter_remembered_ids{kind=\"purchase\"} \(Double(s.rememberedIDs.purchases))\n"
        let age = s.lastSnapshotWallMillis > 0 ? Double(max(0, nowMillis - s.lastSnapshotWallMillis)) / 1000 : -1
        text += "# TYPE credit_meter_snapshot_age_seconds gauge\ncredit_meter_snapshot_age_seconds \(age)\n"
        out.append(contentsOf: text.utf8)
        return out
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
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.durationHistogramBuckets["credit_meter_snapshot_duration_seconds"] =
                [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                 .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
            MetricsSystem.bootstrap(factory)
            r = registry
            return registry
        }
    }
}
