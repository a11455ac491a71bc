import Testing
import Foundation
import CreditEngine
import CreditConfig

/// Contract §10 v2 keys: parsed strictly, with environment overrides.
@Suite struct ConfigurationV2Tests {
    func load(_ yaml: String, env: [String: String] = [:]) throws(ConfigError) -> ServiceConfiguration {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cm-config-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("credit-meter.yaml").path
        let text = yaml + "\nrate_cards_dir: \(ShippedConfigurationTests.configs.path)/rate-cards\nprice_book: \(ShippedConfigurationTests.configs.path)/price-book.yaml\n"
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return try ServiceConfiguration.load(path: path, environment: env)
    }

    @Test func defaults() throws {
        let c = try load("kafka: { bootstrap_servers: localhost:9092 }")
        #expect(c.kafka.requestsTopic == "credit.requests")
        #expect(c.kafka.stateTopic == nil)
        #expect(c.accessMode == .soft)
        #expect(c.runwayDays == nil && c.engine.runwayDays == nil)
        #expect(c.http.readyMaxLag == 1000 && c.http.advertisedURL == nil)
    }

    @Test func fileValues() throws {
        let c = try load("""
            kafka: { requests_topic: req, state_topic: st }
            access: { mode: hard }
            alerts: { thresholds_percent: [20, 10], runway_days: 5 }
            http: { listen: "127.0.0.1:9", ready_max_lag: 0, advertised_url: "http://10.0.0.7:8080" }
            """)
        #expect(c.kafka.requestsTopic == "req" && c.kafka.stateTopic == "st")
        #expect(c.accessMode == .hard)
        #expect(c.runwayDays == 5 && c.engine.runwayDays == 5)
        #expect(c.http.readyMaxLag == 0 && c.http.advertisedURL == "http://10.0.0.7:8080")
    }

    @Test func environmentOverrides() throws {
        let c = try load("access: { mode: hard }", env: [
            "CREDIT_METER_ACCESS_MODE": "soft", "CREDIT_METER_KAFKA_REQUESTS_TOPIC": "r2", "CREDIT_METER_KAFKA_STATE_TOPIC": "s2",
            "CREDIT_METER_ALERTS_RUNWAY_DAYS": "3", "CREDIT_METER_HTTP_READY_MAX_LAG": "50",
            "CREDIT_METER_HTTP_ADVERTISED_URL": "https://meter-2:8443",
        ])
        #expect(c.accessMode == .soft && c.kafka.requestsTopic == "r2" && c.kafka.stateTopic == "s2")
        #expect(c.runwayDays == 3 && c.http.readyMaxLag == 50 && c.http.advertisedURL == "https://meter-2:8443")
    }

    struct Bad: Sendable, CustomStringConvertible {
        var yaml: String
        var env: [String: String] = [:]
        var key: String
        var description: String { key }
    }

    @Test(arguments: [
        Bad(yaml: "access: { mode: strict }", key: "access.mode"),
        Bad(yaml: "access: { mode: soft, extra: 1 }", key: "access.extra"),
        Bad(yaml: "alerts: { runway_days: 0 }", key: "alerts.runway_days"),
        Bad(yaml: "alerts: { runway_days: 2.5 }", key: "alerts.runway_days"),
        Bad(yaml: "http: { ready_max_lag: -1 }", key: "http.ready_max_lag"),
        Bad(yaml: "http: { advertised_url: \"meter:8080\" }", key: "http.advertised_url"),
        Bad(yaml: "kafka: { requests_topic: \"\" }", key: "kafka.requests_topic"),
        Bad(yaml: "kafka: { input_topics: [credit.requests] }", key: "kafka.input_topics"),
        Bad(yaml: "", env: ["CREDIT_METER_ACCESS_MODE": "HARD"], key: "CREDIT_METER_ACCESS_MODE"),
    ])
    func refused(_ bad: Bad) {
        do {
            _ = try load(bad.yaml, env: bad.env)
            Issue.record("accepted \(bad.yaml)")
        } catch {
            #expect(error.key == bad.key, "\(error)")
        }
    }
}
