import CreditConfig
import CreditEngine
import Foundation
import Testing

/// Contract §10 (v3): a `CREDIT_METER_…` variable that names no configuration key is refused
/// like a misspelt YAML key — one error naming the variable and the nearest known name.
@Suite struct EnvironmentNameTests {
    func refusal(_ env: [String: String]) -> ConfigError? {
        do {
            _ = try ShippedConfiguration.load(environment: env)
            return nil
        } catch {
            return error
        }
    }

    @Test func aMisspeltVariableIsRefusedWithTheNearestKey() {
        let e = refusal(["CREDIT_METER_KAFKA_BOOTSTRAP_SERVER": "broker:9092"])
        #expect(e?.description == "environment: CREDIT_METER_KAFKA_BOOTSTRAP_SERVER: names no configuration key (did you mean CREDIT_METER_KAFKA_BOOTSTRAP_SERVERS?)")
        #expect(refusal(["CREDIT_METER_HTTP_LISTENER": "0.0.0.0:8080"])?.description
                == "environment: CREDIT_METER_HTTP_LISTENER: names no configuration key (did you mean CREDIT_METER_HTTP_LISTEN?)")
        #expect(refusal(["CREDIT_METER_SNAPSHOT_DIR": "/tmp"])?.description
                == "environment: CREDIT_METER_SNAPSHOT_DIR: names no configuration key (did you mean CREDIT_METER_SNAPSHOTS_DIR?)")
    }

    @Test func theFirstUnknownVariableByNameIsTheOneReported() {
        let e = refusal(["CREDIT_METER_ZZZ": "1", "CREDIT_METER_ACCES_MODE": "hard", "CREDIT_METER_GROUP_ID": "g"])
        #expect(e?.key == "CREDIT_METER_ACCES_MODE")
        #expect(e?.file == "environment")
    }

    @Test func everyConfigurationKeyTheLogLevelAndPropertiesAreAccepted() throws {
        var env: [String: String] = [:]
        for path in ServiceConfiguration.overridablePaths { env[ServiceConfiguration.environmentName(path)] = "" }
        // Values that load (the names are what this test is about).
        env["CREDIT_METER_KAFKA_BOOTSTRAP_SERVERS"] = "broker:9092"
        env["CREDIT_METER_KAFKA_GROUP_ID"] = "g"
        env["CREDIT_METER_KAFKA_INPUT_TOPICS"] = "ai.usage"
        env["CREDIT_METER_KAFKA_ALERTS_TOPIC"] = "a"
        env["CREDIT_METER_KAFKA_DEAD_LETTER_TOPIC"] = "d"
        env["CREDIT_METER_KAFKA_REQUESTS_TOPIC"] = "r"
        env["CREDIT_METER_RATE_CARDS_DIR"] = "rate-cards"
        env["CREDIT_METER_PRICE_BOOK"] = "price-book.yaml"
        env["CREDIT_METER_SNAPSHOTS_INTERVAL_SECONDS"] = "10"
        env["CREDIT_METER_SNAPSHOTS_KEEP"] = "3"
        env["CREDIT_METER_ALERTS_THRESHOLDS_PERCENT"] = "20,10"
        env["CREDIT_METER_DEDUPE_WINDOW_HOURS"] = "24"
        env["CREDIT_METER_HTTP_READY_MAX_LAG"] = "1000"
        env["CREDIT_METER_HTTP_HOLD_TIMEOUT_MS"] = "2000"
        env["CREDIT_METER_LOG_LEVEL"] = "debug"
        env["CREDIT_METER_KAFKA_PROPERTIES_SASL_MECHANISM"] = "PLAIN"
        env["PATH"] = "/usr/bin"  // other variables are none of its business
        let c = try ShippedConfiguration.load(environment: env)
        #expect(c.kafka.bootstrapServers == "broker:9092")
        #expect(c.kafka.properties["sasl.mechanism"] == "PLAIN")
        #expect(ServiceConfiguration.programVariables == ["CREDIT_METER_LOG_LEVEL"])
    }

    @Test func aPropertyVariableWithoutAPropertyNameIsRefused() {
        let e = refusal(["CREDIT_METER_KAFKA_PROPERTIES_": "x"])
        #expect(e?.key == "CREDIT_METER_KAFKA_PROPERTIES_")
        #expect(e?.message.hasPrefix("names no librdkafka property") == true)
    }

    @Test func aFileLoadRefusesThemToo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cm-env-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("credit-meter.yaml").path
        let configs = ShippedConfigurationTests.configs.path
        try "rate_cards_dir: \(configs)/rate-cards\nprice_book: \(configs)/price-book.yaml\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError(file: "environment", key: "CREDIT_METER_HTTP_TOKN",
                                    "names no configuration key (did you mean CREDIT_METER_HTTP_TOKEN?)")) {
            try ServiceConfiguration.load(path: path, environment: ["CREDIT_METER_HTTP_TOKN": "secret"])
        }
    }
}
