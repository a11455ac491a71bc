import CreditConfig
import CreditMeterHTTP
import CreditMeterService
import Foundation
import Kafka
import Logging
import ServiceLifecycle

/// `bench --only http`: account reads over HTTP (wrk, a separate process) against the running
/// service, and the consumption rate of a burst of records with and without that read load.
extension Bench {
    static func http(config base: ServiceConfiguration, bootstrap: String, topic: String, spec: WorkloadSpec, held: Int64,
                     scratch: String, logger: Logger, say: @escaping @Sendable (String) -> Void) async throws {
        guard let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            say("http: skipped (wrk not installed: apt-get install wrk)")
            return
        }
        var config = base
        config.kafka.groupID = "bench-http"
        config.snapshots.dir = scratch + "/snapshots-http"
        let service = MeterService(config: config, logger: logger, bootstrap: bootstrap)
        let port = Locked<Int?>(nil)
        let server = try HTTPServer.forService(service, listen: "127.0.0.1:0", logger: logger) { p in port.withLock { $0 = p } }
        let group = ServiceGroup(configuration: .init(services: [.init(service: server), .init(service: service)], logger: logger))
        let task = Task { try await group.run() }
        func waitProcessed(_ n: Int64) async throws {
            let deadline = ContinuousClock.now + .seconds(600)
            while service.status.processed < n {
                guard ContinuousClock.now < deadline, service.status.running || service.status.consumed == 0 else {
                    throw ServiceError("service processed \(service.status.processed) of \(n) records")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        try await waitProcessed(held)
        guard let port = port.value else { throw ServiceError("the HTTP server did not start") }
        let accounts = service.readModel.accountCount
        say("http: service caught up on \(fmt(Int(held))) records, \(fmt(accounts)) accounts readable at 127.0.0.1:\(port)")

        // wrk requests random accounts' documents (a Lua script: one id per request).
        let script = scratch + "/accounts.lua"
        try """
        math.randomseed(42)
        request = function()
          return wrk.format("GET", string.format("/v1/accounts/acct-%05d", math.random(0, \(spec.accounts - 1))))
        end
        """.write(toFile: script, atomically: true, encoding: .utf8)
        func runWrk(seconds: Int) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: wrk)
            p.arguments = ["-t2", "-c32", "-d\(seconds)s", "--latency", "-s", script, "http://127.0.0.1:\(port)"]
            p.standardOutput = Pipe()
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        func report(_ p: Process) -> (rate: Double, p50: String, p99: String, errors: String?) {
            let text = String(decoding: (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            func value(after label: String) -> String? {
                guard let r = text.range(of: label) else { return nil }
                return text[r.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init)
            }
            let errors = text.range(of: "Non-2xx or 3xx responses:").map { String(text[$0.lowerBound...].prefix { $0 != "\n" }) }
            return (Double(value(after: "Requests/sec:") ?? "0") ?? 0, value(after: " 50% ") ?? "?", value(after: " 99% ") ?? "?", errors)
        }

        // 1. Reads with the consumer idle.
        let idle = report(try runWrk(seconds: 10))
        say("http: reads, consumer idle: \(fmt(Int(idle.rate))) requests/s, p50 \(idle.p50), p99 \(idle.p99) "
            + "(wrk -t2 -c32 -d10s, random accounts)" + (idle.errors.map { "; " + $0 } ?? ""))

        // 1b. Whole-instance pages at this many accounts (each request sorts every account).
        let client = LoopbackHTTPClient(port: port)
        for target in ["/ui/?sort=balance&dir=desc&page=10", "/ui/?status=low&sort=runway", "/v1/accounts?status=low&limit=1000"] {
            var times: [Double] = []
            for _ in 0..<5 {
                let t = ContinuousClock.now
                let r = try client.get(target)
                guard r.status == 200 else { throw ServiceError("\(target) answered \(r.status)") }
                times.append(seconds(ContinuousClock.now - t) * 1000)
            }
            say("http: GET \(target) at \(fmt(accounts)) accounts: median " + String(format: "%.1f", times.sorted()[2]) + " ms of 5")
        }

        // 2. A burst of new usage records, without and then with the read load.
        var produced = held
        func burst(_ prefix: String) async throws -> Double {
            var s = spec
            s.idPrefix = prefix
            s.malformed = 0
            s.duplicateEvery = 0
            let usage = Workload.generate(s).filter { $0.kind == .usage }
            let start = ContinuousClock.now
            try Demo.produce(usage, to: topic, bootstrap: bootstrap, logger: logger, alreadyHeld: produced) { _ in }
            produced += Int64(usage.count)
            try await waitProcessed(produced)
            return Double(usage.count) / seconds(ContinuousClock.now - start)
        }
        let quiet = try await burst("b1-")
        let load = try runWrk(seconds: 8)
        try await Task.sleep(for: .milliseconds(200))
        let busy = try await burst("b2-")
        let during = report(load)
        say("http: a burst of \(fmt(spec.usageEvents)) usage records (produce → applied): \(fmt(Int(quiet))) records/s without reads, "
            + "\(fmt(Int(busy))) records/s while wrk reads (" + String(format: "%.2f", busy / quiet) + "×)")
        say("http: reads during that burst (wrk -d8s from its start): \(fmt(Int(during.rate))) requests/s, p50 \(during.p50), p99 \(during.p99)"
            + (during.errors.map { "; " + $0 } ?? ""))
        await group.triggerGracefulShutdown()
        try await task.value
    }
}
