import CoreMetrics
import Prometheus

/// The text exposition format (version 0.0.4) as `/metrics` writes it by hand: every family
/// with a HELP and a TYPE line (`promtool check metrics` asks for both).
enum MetricsText {
    enum Kind: String { case counter, gauge, histogram }

    static func family(_ text: inout String, _ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
    }

    /// A label value with backslash, double quote and line feed escaped.
    static func label(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 0x0A }) else { return value }
        var out = ""
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

/// The metrics that live in the process's Prometheus registry — recorded through swift-metrics
/// by the service, or made here for HTTP — with their HELP text and histogram buckets, so
/// that the registry writes a HELP line for each.
enum RegistryMetrics {
    static let help: [String: String] = [
        "credit_meter_snapshot_duration_seconds": "Time one snapshot round took (capture, write, commit).",
        "credit_meter_snapshot_bytes": "Bytes written by the last snapshot round.",
        "credit_meter_http_requests_total": "HTTP requests by route template and status code.",
        requestDuration: "Time to answer an HTTP request (until the answer is handed to the server to write), by route template.",
        holdDecision: "Time from a hold request (POST /v1/accounts/{account}/holds) to its answer, for requests that passed validation: the decision, pending (202) or a failed produce.",
    ]

    static let requestDuration = "credit_meter_http_request_duration_seconds"
    static let holdDecision = "credit_meter_hold_decision_seconds"

    /// The registry's name for `label` (the label itself) with its HELP text ("" if none).
    static func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: help[label] ?? "")
    }

    static let durationBuckets: [String: [Duration]] = [
        "credit_meter_snapshot_duration_seconds":
            [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
             .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)],
        // Reads answer from published views in microseconds; pages take longer.
        requestDuration:
            [.microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
             .milliseconds(1), .milliseconds(2.5), .milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1)],
        // A produce (acks=all), the loop's next poll and the view's publish: milliseconds; up to
        // `http.hold_timeout_ms` (then 202).
        holdDecision:
            [.milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
             .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
             .seconds(60)],
    ]
}

/// swift-prometheus' swift-metrics backend, with each metric's HELP text and buckets from
/// `RegistryMetrics` (swift-prometheus' own factory registers every family without one).
struct DescribedPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    /// The full name is the label (no unit appended); no HELP line without a catalogue entry.
    private func described(_ label: String) -> MetricNameDescriptor {
        RegistryMetrics.descriptor(label)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: described(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: described(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: described(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: described(label), labels: dimensions,
                                           buckets: PrometheusMetricsFactory().defaultValueHistogramBuckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: described(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let buckets = RegistryMetrics.durationBuckets[label] ?? PrometheusMetricsFactory().defaultDurationHistogramBuckets
        return registry.makeDurationHistogram(descriptor: described(label), labels: dimensions, buckets: buckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
