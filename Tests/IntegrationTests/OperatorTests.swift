import CreditConfig
@testable import CreditMeterHTTP
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Testing

/// What operators and HTTP clients meet besides the routes' answers: requests that are not
/// HTTP, other methods, the API's description, and `/metrics` as Prometheus reads it. Nested in
/// the endpoint suite so that it never runs beside it (both scrape one process-wide registry).
extension HTTPEndpointTests {
@Suite(.serialized, .timeLimit(.minutes(3))) struct OperatorTests {
    /// Sends `bytes` on a fresh connection and reads until the server closes it.
    static func raw(_ bytes: [UInt8], port: Int) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopbackHTTPClient.Failure("socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw LoopbackHTTPClient.Failure("connect") }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The answers in a raw exchange: status, headers (lowercased names), body.
    static func answers(_ text: String) -> [(status: Int, headers: [String: String], body: String)] {
        var out: [(Int, [String: String], String)] = []
        var rest = Substring(text)
        while let end = rest.range(of: "\r\n\r\n") {
            let lines = rest[..<end.lowerBound].components(separatedBy: "\r\n")
            let status = Int(lines[0].split(separator: " ")[1]) ?? 0
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                let colon = line.firstIndex(of: ":")!
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            let bodyStart = end.upperBound
            let bodyEnd = rest.utf8.index(bodyStart, offsetBy: length)
            out.append((status, headers, String(rest[bodyStart..<bodyEnd])))
            rest = rest[bodyEnd...]
        }
        return out
    }

    /// A request NIO's parser rejects — a malformed request line, a header without a colon,
    /// a bad method, garbage after a good request — gets a JSON 400 like every other 400
    /// (then the connection closes).
    @Test(arguments: [
        "GARBAGE\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        "G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /healthz HTTP/9\r\n\r\n",
        "\u{1}\u{2}\u{3}\r\n\r\n",
    ])
    func requestsThatAreNotHTTPGetAJSON400(_ request: String) async throws {
        let h = try ServiceHarness(partitions: 1)
        let stack = try await HTTPStack(harness: h, token: nil)
        let answers = Self.answers(try Self.raw(Array(request.utf8), port: stack.port))
        let last = try #require(answers.last, "no answer to \(request.debugDescription)")
        #expect(last.status == 400)
        #expect(last.headers["content-type"] == "application/json")
        #expect(last.headers["connection"] == "close")
        let json = try JSONSerialization.jsonObject(with: Data(last.body.utf8)) as? [String: String]
        #expect(json?.keys.sorted() == ["error"])
        #expect(json?["error"]?.hasPrefix("request: not a valid HTTP/1.1 request (") == true, "\(last.body)")
        try await stack.stop()
    }

    @Test func garbageAfterAGoodRequestIsAnsweredAfterIt() async throws {
        let h = try ServiceHarness(partitions: 1)
        let stack = try await HTTPStack(harness: h, token: nil)
        let request = "GET /v1/accounts?limit=0 HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\u{0}garbage\r\n\r\n"
        let answers = Self.answers(try Self.raw(Array(request.utf8), port: stack.port))
        #expect(answers.map(\.status) == [400, 503, 400])
        #expect(answers.first?.body == #"{"error":"limit: must be from 1 to 1000"}"#)
        #expect(answers.last?.body.hasPrefix(#"{"error":"request: not a valid HTTP/1.1 request"#) == true)
        try await stack.stop()
    }

    /// Every route: another method than GET or HEAD is 405 — than its own for the hold routes
    /// that take POST — and `Allow` and the error name the same methods.
    @Test func otherMethodsGet405WithTheSameListInAllowAndTheError() async throws {
        let h = try ServiceHarness(partitions: 1)
        let stack = try await HTTPStack(harness: h, token: nil)
        let c = stack.client
        let posting: Set<API.Route> = [.holds, .holdExtend, .holdRelease]
        for route in API.Route.allCases where route != .unmatched {
            let target = route.rawValue.replacingOccurrences(of: "{account}", with: "acct-1").replacingOccurrences(of: "{hold_id}", with: "h-1")
            let methods = route == .holds ? "GET, HEAD, POST" : posting.contains(route) ? "POST" : "GET, HEAD"
            for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] where !methods.split(separator: ", ").contains(Substring(method)) {
                let r = try await c.request(target, method: method)
                #expect(r.status == 405, "\(method) \(target)")
                let allow = try #require(r.headers["allow"])
                #expect(allow == methods)
                let verb = allow.contains(",") ? "are" : "is"
                if route.isPage {
                    // A page for people, saying the same.
                    #expect(r.headers["content-type"] == "text/html; charset=utf-8" && r.text.contains("method: only \(allow) \(verb) allowed"))
                } else {
                    #expect(r.json["error"] as? String == "method: only \(allow) \(verb) allowed")
                }
            }
        }
        #expect(try await c.request("/nowhere", method: "POST").status == 404)
        try await stack.stop()
    }

    /// `/openapi.json` is docs/openapi.json, open like `/metrics` when a token is set.
    @Test func theAPIDescriptionIsServedWithoutTheToken() async throws {
        let h = try ServiceHarness(partitions: 1)
        let stack = try await HTTPStack(harness: h, token: "operator-token")
        let r = try await stack.client.request("/openapi.json")
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "application/json")
        let file = try Data(contentsOf: ServiceHarness.repoRoot.appendingPathComponent("docs/openapi.json"))
        #expect(r.body == Array(file))
        try await stack.stop()
    }

    /// The live exposition: the service's Kafka clients' broker counters (statistics every
    /// 100 ms here), build information, process metrics, request durations — every family
    /// with HELP and TYPE, counters ending in `_total`, every sample in a declared family.
    @Test func metricsAsPrometheusReadsThem() async throws {
        let h = try ServiceHarness(partitions: 2, kafkaProperties: ["statistics.interval.ms": "100"])
        let stack = try await HTTPStack(harness: h, token: nil)
        try await stack.startService()
        let c = stack.client
        // librdkafka's first statistics arrive after an interval: wait for both clients'.
        let deadline = ContinuousClock.now + .seconds(30)
        var text = ""
        func has(_ client: String) -> Bool {
            text.contains("credit_meter_kafka_broker_connects_total{client=\"credit-meter#\(client)-")
        }
        repeat {
            text = try await c.request("/metrics").text
            if has("consumer") && has("producer") { break }
            try await Task.sleep(for: .milliseconds(50))
        } while ContinuousClock.now < deadline
        #expect(has("consumer") && has("producer"), "\(text)")

        var help: Set<String> = [], types: [String: String] = [:]
        for line in text.split(separator: "\n").map(String.init) {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            if line.hasPrefix("# HELP ") {
                #expect(parts.count == 4 && !parts[3].isEmpty, "\(line)")
                help.insert(parts[2])
            } else if line.hasPrefix("# TYPE ") {
                #expect(help.contains(parts[2]) && types[parts[2]] == nil, "\(line)")
                types[parts[2]] = parts[3]
            } else {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                let family = types[name] != nil ? name : String(name.replacing(/_(bucket|sum|count)$/, with: ""))
                #expect(types[family] != nil, "\(line) is in no declared family")
                #expect(line.wholeMatch(of: /[a-z_:][a-z0-9_:]*(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [-+0-9.eInf]+/) != nil, "\(line)")
            }
        }
        #expect(Set(types.keys) == help)
        for (name, type) in types where type == "counter" { #expect(name.hasSuffix("_total"), "\(name)") }
        #expect(types["credit_meter_http_request_duration_seconds"] == "histogram")
        #expect(text.contains("credit_meter_http_request_duration_seconds_count{route=\"/metrics\"} "))
        #expect(text.contains("credit_meter_build_info{version=\"\(CreditMeterVersion.string)\",librdkafka=\"\(librdkafkaVersion)\"} 1\n"))
        for family in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
                       "process_max_fds", "process_start_time_seconds", "credit_meter_kafka_broker_errors_total",
                       "credit_meter_kafka_broker_retries_total", "credit_meter_kafka_broker_disconnects_total"] {
            #expect(types[family] != nil, "\(family)")
        }
        try await stack.stop()
    }
}
}
