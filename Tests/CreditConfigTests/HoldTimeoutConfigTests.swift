import CreditConfig
import CreditEngine
import Testing

/// `http.hold_timeout_ms` (contract §10 v3, §15): how long a hold route waits for its event to
/// be applied, 1…60000 ms, default 2000, from the file or `CREDIT_METER_HTTP_HOLD_TIMEOUT_MS`.
@Suite struct HoldTimeoutConfigTests {
    func load(_ yaml: String, env: [String: String] = [:]) throws(ConfigError) -> ServiceConfiguration {
        try ConfigurationV2Tests().load(yaml, env: env)
    }

    @Test func defaultFileAndEnvironment() throws {
        #expect(try load("kafka: { bootstrap_servers: localhost:9092 }").http.holdTimeoutMs == 2000)
        #expect(try load("http: { hold_timeout_ms: 1 }").http.holdTimeoutMs == 1)
        #expect(try load("http: { hold_timeout_ms: 60000 }").http.holdTimeoutMs == 60_000)
        #expect(try load("http: { hold_timeout_ms: 500 }", env: ["CREDIT_METER_HTTP_HOLD_TIMEOUT_MS": "750"]).http.holdTimeoutMs == 750)
    }

    @Test(arguments: [
        ("http: { hold_timeout_ms: 0 }", [:], "http.hold_timeout_ms"),
        ("http: { hold_timeout_ms: 60001 }", [:], "http.hold_timeout_ms"),
        ("http: { hold_timeout_ms: 2.5 }", [:], "http.hold_timeout_ms"),
        ("http: { hold_timeout_ms: null }", [:], "http.hold_timeout_ms"),
        ("", ["CREDIT_METER_HTTP_HOLD_TIMEOUT_MS": "-1"], "CREDIT_METER_HTTP_HOLD_TIMEOUT_MS"),
        ("", ["CREDIT_METER_HTTP_HOLD_TIMEOUT_MSEC": "5"], "CREDIT_METER_HTTP_HOLD_TIMEOUT_MSEC"),
    ] as [(String, [String: String], String)])
    func refused(_ yaml: String, _ env: [String: String], _ key: String) {
        do {
            let c = try load(yaml, env: env)
            Issue.record("accepted \(yaml) \(env): \(c.http.holdTimeoutMs)")
        } catch {
            #expect(error.key == key, "\(error)")
            if key == "http.hold_timeout_ms" { #expect(error.description.contains("must be a whole number from 1 to 60000"), "\(error)") }
        }
    }
}
