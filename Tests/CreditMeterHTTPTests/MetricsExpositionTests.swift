@testable import CreditMeterHTTP
import CreditConfig
import CreditMeterService
import Kafka
import Testing

/// `/metrics` as written by the exporter: HELP and TYPE on every family, label values escaped,
/// librdkafka's per-broker counters.
@Suite struct MetricsExpositionTests {
    static func statistics() -> [KafkaStatistics] {
        var consumer = KafkaStatistics(json: Array(#"{"name":"credit-meter#consumer-2","type":"consumer","brokers":{}}"#.utf8))!
        var broker = KafkaStatistics.Broker(name: "kafka-1:9092/1")
        broker.transmitErrors = 1
        broker.receiveErrors = 2
        broker.requestTimeouts = 3
        broker.retries = 4
        broker.disconnects = 5
        broker.connects = 6
        consumer.brokers = [broker, KafkaStatistics.Broker(name: "odd\"name\\\n")]
        return [consumer]
    }

    @Test func kafkaBrokerCountersOneSeriesPerClientBrokerAndKind() {
        var text = ""
        MetricsExporter.render(Self.statistics(), into: &text)
        let lines = text.split(separator: "\n").map(String.init)
        let labels = #"client="credit-meter#consumer-2",broker="kafka-1:9092/1""#
        for expected in [
            "credit_meter_kafka_broker_errors_total{\(labels),kind=\"transmit\"} 1",
            "credit_meter_kafka_broker_errors_total{\(labels),kind=\"receive\"} 2",
            "credit_meter_kafka_broker_errors_total{\(labels),kind=\"request_timeout\"} 3",
            "credit_meter_kafka_broker_retries_total{\(labels)} 4",
            "credit_meter_kafka_broker_disconnects_total{\(labels)} 5",
            "credit_meter_kafka_broker_connects_total{\(labels)} 6",
            #"credit_meter_kafka_broker_connects_total{client="credit-meter#consumer-2",broker="odd\"name\\\n"} 0"#,
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
        for family in ["errors", "retries", "disconnects", "connects"] {
            let name = "credit_meter_kafka_broker_\(family)_total"
            #expect(lines.contains { $0.hasPrefix("# HELP \(name) ") })
            #expect(lines.contains("# TYPE \(name) counter"))
        }
        // Nothing to say without a broker: no empty families.
        var none = ""
        MetricsExporter.render([], into: &none)
        #expect(none.isEmpty)
    }

    @Test func everyFamilyHasHelpAndType() {
        let exporter = MetricsExporter(registry: MetricsBootstrap.registry(), model: ReadModel(), status: { ServiceStatus() },
                                       kafkaStatistics: Self.statistics)
        exporter.record(.check, code: 200, duration: .microseconds(30))
        let text = String(decoding: exporter.render(), as: UTF8.self)
        var help: Set<String> = [], types: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            if line.hasPrefix("# HELP ") { help.insert(parts[2]) }
            if line.hasPrefix("# TYPE ") {
                #expect(help.contains(parts[2]), "\(parts[2]) has TYPE before (or without) HELP")
                #expect(types[parts[2]] == nil, "\(parts[2]) declared twice")
                types[parts[2]] = parts[3]
            }
        }
        #expect(Set(types.keys) == help)
        for (name, type) in types where type == "counter" { #expect(name.hasSuffix("_total"), "\(name)") }
        for family in ["credit_meter_http_requests_total", "credit_meter_http_request_duration_seconds", "credit_meter_records_total",
                       "credit_meter_hold_expiries_produced_total",
                       "credit_meter_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                       "process_max_fds", "process_start_time_seconds", "credit_meter_kafka_broker_errors_total",
                       "credit_meter_holds_total", "credit_meter_usage_unheld_total", "credit_meter_hold_decision_seconds"] {
            #expect(types[family] != nil, "\(family)")
        }
        #expect(text.contains("credit_meter_build_info{version=\"\(CreditMeterVersion.string)\",librdkafka=\"\(librdkafkaVersion)\"} 1\n"))
        #expect(text.contains("credit_meter_http_request_duration_seconds_count{route=\"/v1/accounts/{account}/check\"} "))
        #expect(text.contains("credit_meter_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 0\n"))
        #expect(types["credit_meter_holds_total"] == "counter" && types["credit_meter_hold_decision_seconds"] == "histogram")
        for outcome in ["granted", "denied", "released", "expired"] { #expect(text.contains("credit_meter_holds_total{outcome=\"\(outcome)\"} 0\n")) }
        #expect(text.contains("credit_meter_usage_unheld_total 0\n"))
    }

    @Test func processMetricsComeFromProc() throws {
        let stat = try #require(ProcessMetrics.stat())
        #expect(stat.rssPages > 0 && stat.vsize > 0 && stat.startTicks > 0)
        let start = try #require(ProcessMetrics.startTime())
        #expect(start > 1_500_000_000)  // after 2017: a date, not ticks since boot
        #expect((ProcessMetrics.openDescriptors() ?? 0) >= 3)
    }
}
