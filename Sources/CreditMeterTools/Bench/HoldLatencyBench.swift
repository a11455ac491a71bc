import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging
import Synchronization

/// `bench --only hold-latency`: hold decisions over HTTP (contract §15) against `credit-meter
/// run` in a child process, the broker (`dev-broker`) in another, as deployed; this process
/// runs the HTTP clients and the paced background usage.
///
/// 1. Latency: a few clients, closed loop, each cycle `POST …/holds` (timed: request sent →
///    decision read) then `POST …/holds/{id}/release`, at each background rate of usage events
///    (`PacedUsage`), beside the broker alone: a plain consumer of the same input topic at the
///    same time (and, afterwards, `echoLatency` at the same rate on an idle topic).
/// 2. Throughput: many connections, closed loop, the same cycles, no background: holds decided
///    per second, every request answered with a decision (a 202 means the loop did not apply it
///    within `http.hold_timeout_ms`), the service's own hold counts and consumer lag after.
extension Bench {
    struct HoldLatencyOptions: Sendable {
        /// Background usage events per second for the latency figures, one run each.
        var rates: [Double] = [0, 10_000]
        /// Seconds of each latency run and of the throughput run.
        var seconds = 10.0
        /// Clients of the latency runs (each one request at a time).
        var latencyClients = 4
        /// Connections of the throughput run (each one request at a time).
        var connections = 64
        /// Accounts the holds are spread over (a plan and 1,000,000 credits each).
        var accounts = 10_000
        /// The service's `fetch.wait.max.ms` (its default: 10), as the broker-alone reader's (1).
        var fetchWaitMs = 1
        /// More librdkafka properties for the service (`kafka.properties`).
        var properties: [String: String] = [:]
    }

    static func holdLatency(config: ServiceConfiguration, options: HoldLatencyOptions, scratch: String, executable: String,
                            logger: Logger, say: @escaping @Sendable (String) -> Void) async throws {
        var properties = options.properties
        properties["fetch.wait.max.ms"] = "\(options.fetchWaitMs)"
        let background = PacedUsage(accounts: 20_000)
        var stand = try await HoldStand(config: config, properties: properties, accounts: options.accounts, background: background,
                                        scratch: scratch, name: "holds", executable: executable, logger: logger)
        defer { stand.stop() }
        let (bootstrap, service, port, producer) = (stand.bootstrap, stand.service, stand.port, stand.producer)
        say("hold-latency: broker (dev-broker) and service (credit-meter run) in child processes; \(fmt(options.accounts)) funded accounts, "
            + "HTTP at 127.0.0.1:\(port); the service's kafka.properties \(properties.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")); load average \(loadAverage())")

        // 1. Latency at each background rate, beside the broker's crossing at the same rate.
        var nextEvent = 0
        for (n, rate) in options.rates.enumerated() {
            let load = PacedUsage.Background(background, rate: rate, firstEvent: nextEvent, producer: producer)
            if rate > 0 { try await Task.sleep(for: .seconds(1)) }  // the service at the rate before the first hold
            // The broker alone in the same run: a plain consumer of the service's input topic,
            // each hold event's timestamp (the service's wall clock when it took the request, in
            // ms) → its arrival: the crossing a decision waits for, under the same load.
            let crossings = Locked<[Double]>([])
            let stopTail = StopSignal()
            let tailReader = try tail(PacedUsage.topic, bootstrap: bootstrap, logger: logger, stop: stopTail) { m, _ in
                guard let ts = m.timestampMs, String(decoding: m.value, as: UTF8.self).contains("\"type\":\"credit.hold.") else { return }
                let age = Date().timeIntervalSince1970 * 1e3 - Double(ts)
                crossings.withLock { $0.append(age) }
            }
            let run = try holdCycles(port: port, clients: options.latencyClients, seconds: options.seconds, accounts: options.accounts,
                                     prefix: "l\(n)")
            stopTail.request()
            tailReader.join()
            let produced = try load.stop()
            nextEvent += produced.events
            let loadAvg = loadAverage()
            let holdEvents = Double(run.creates.count + run.releases.count) / run.seconds
            let crossingRate = rate + holdEvents
            let echo = try echoLatency(bootstrap: bootstrap, rate: crossingRate,
                                       total: min(100_000, max(2_000, Int(crossingRate * 5))), logger: logger)
            let create = Percentiles(run.creates)
            let crossing = Percentiles(crossings.value)
            say("hold decision latency at " + (rate > 0 ? fmt(Int(Double(produced.events) / max(produced.seconds, 1e-9))) : "0")
                + " usage events/s (\(options.latencyClients) clients, closed loop, \(Int(options.seconds)) s): POST create → answer "
                + create.text + " over \(fmt(run.creates.count)) holds (\(run.outcomes)); release " + Percentiles(run.releases).text
                + "; the broker alone in the same run (the hold events → a plain consumer of the input topic, ±1 ms): " + crossing.text
                + "; p99 − crossing p99 = " + String(format: "%.2f", create.p99 - crossing.p99) + " ms (target ≤ 10)"
                + "; on an idle topic afterwards (produce → consumer at \(fmt(Int(crossingRate)))/s): " + echo.text + "; load average \(loadAvg)")
        }

        // 2. Sustained holds per second: many connections, no background, on a fresh broker and
        // service: the mock cluster's cost per request grows with the records a partition holds
        // (its broker CPU per hold rose from ≈ 190 to ≈ 840 µs after the latency runs).
        let firstProfile = loopProfile(service)
        stand.stop()
        stand = try await HoldStand(config: config, properties: properties, accounts: options.accounts, background: nil,
                                    scratch: scratch, name: "holds-sustained", executable: executable, logger: logger)
        let (broker2, service2, port2) = (stand.broker, stand.service, stand.port)
        let before = try HoldCounts(port: port2)
        let cpu = CPUShares(service: service2.pid, broker: broker2.pid)
        let run = try holdCycles(port: port2, clients: options.connections, seconds: options.seconds, accounts: options.accounts, prefix: "t")
        let cpuText = cpu.text(over: run.seconds, holds: run.creates.count)
        let loadAvg = loadAverage()
        let decided = run.status[201, default: 0] + run.status[402, default: 0]
        // The service's counts and lag are published with its views (every 100 ms): read until
        // they cover every answered request, for at most 5 s.
        let ended = ContinuousClock.now
        var after = try HoldCounts(port: port2)
        var logged = (after.granted + after.denied) - (before.granted + before.denied)
        while (logged < Int64(run.creates.count) || after.released - before.released < Int64(run.releases.count) || after.lag > 0)
            && ContinuousClock.now < ended + .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
            after = try HoldCounts(port: port2)
            logged = (after.granted + after.denied) - (before.granted + before.denied)
        }
        let settled = ContinuousClock.now - ended
        say("holds sustained (\(options.connections) connections, closed loop, \(Int(options.seconds)) s, create + release on "
            + "\(fmt(options.accounts)) accounts): " + fmt(Int(Double(decided) / run.seconds)) + " holds decided/s ("
            + fmt(Int(Double(run.creates.count + run.releases.count) / run.seconds)) + " requests/s); create " + Percentiles(run.creates).text
            + "; \(run.outcomes); the service counted \(fmt(Int(logged))) decisions, \(fmt(Int(after.released - before.released))) releases; "
            + "consumer lag \(after.lag) records \(ms(settled)) after the end; CPU \(cpuText); load average \(loadAvg)")
        if decided != run.creates.count || logged != Int64(decided) || after.lag > 0 {
            say("hold-latency: the consumer did not keep up — \(fmt(run.creates.count)) creates, \(fmt(decided)) answered with a decision, "
                + "\(fmt(Int(logged))) decided in the log")
        }
        for line in firstProfile + loopProfile(service2) { say("  service loop, 5 s: " + line) }
        withExtendedLifetime(producer) {}
    }

    /// A broker and a `credit-meter run` child with the hold accounts funded (and the
    /// background's trial accounts when it has one).
    struct HoldStand {
        let broker: MeasuredChild
        let bootstrap: String
        let service: MeasuredChild
        let port: Int
        let producer: KafkaProducer
        private var stopped = false

        init(config: ServiceConfiguration, properties: [String: String], accounts: Int, background: PacedUsage?, scratch: String,
             name: String, executable: String, logger: Logger) async throws {
            (broker, bootstrap) = try await brokerChild(executable: executable, scratch: scratch)
            do {
                service = try serviceChild(executable: executable, scratch: scratch, name: name, bootstrap: bootstrap, config: config,
                                           properties: properties)
            } catch {
                broker.terminate()
                throw error
            }
            do {
                port = try await httpPort(of: service)
                producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "0")], logger: logger) { _ in }
                try await background?.assignPlans(producer: producer, balancesTopic: config.kafka.balancesTopic ?? "credit.balances",
                                                  bootstrap: bootstrap, logger: logger)
                try await fundHoldAccounts(accounts, producer: producer, port: port)
            } catch {
                service.terminate()
                broker.terminate()
                throw error
            }
        }

        mutating func stop() {
            guard !stopped else { return }
            stopped = true
            service.terminate()
            broker.terminate()
        }
    }

    /// The port a `serviceChild` logged ("HTTP listening … port=N").
    static func httpPort(of service: MeasuredChild) async throws -> Int {
        for _ in 0..<600 {
            let text = (try? String(contentsOfFile: service.output + ".err", encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("HTTP listening") }),
               let r = line.range(of: "port="), let port = Int(line[r.upperBound...].prefix { $0.isNumber }) {
                return port
            }
            if service.exited() { throw ServiceError("credit-meter run ended: \(text.suffix(500))") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ServiceError("credit-meter run did not listen within 30 s")
    }

    /// `hold-0` … `hold-<n-1>`: the `pro` plan and a 1,000,000-credit top-up each, at the
    /// service's clock; returns once every one is readable over HTTP.
    static func fundHoldAccounts(_ n: Int, producer: KafkaProducer, port: Int) async throws {
        let topic = producer.topic(PacedUsage.topic)
        let now = systemWallClock() / 1_000_000 * 1_000_000 - EventTime.nanosPerSecond
        let time = EventTime.format(now)
        for a in 0..<n {
            let account = "hold-\(a)"
            for (id, type, data) in [("hp-\(a)", "credit.plan.assigned", #"{"plan":"pro"}"#),
                                     ("ht-\(a)", "credit.topup.purchased", #"{"credits":1000000}"#)] {
                let json = "{\"specversion\":\"1.0\",\"id\":\"\(id)\",\"source\":\"billing\",\"type\":\"\(type)\",\"subject\":\"\(account)\",\"time\":\"\(time)\",\"data\":\(data)}"
                try PacedUsage.send(producer, topic, account, json, now / 1_000_000)
            }
        }
        try producer.flush(timeoutMs: 30_000)
        let client = LoopbackHTTPClient(port: port)
        let deadline = ContinuousClock.now + .seconds(60)
        for a in 0..<n {
            while try client.get("/v1/accounts/hold-\(a)").status != 200 {
                guard ContinuousClock.now < deadline else { throw ServiceError("hold-latency: hold-\(a) not readable within 60 s") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// What closed-loop hold clients saw: create and release latencies (ms), answers by status.
    struct HoldCycles {
        var creates: [Double] = []
        var releases: [Double] = []
        var status: [Int: Int] = [:]
        var seconds = 0.0

        var outcomes: String {
            let names = [201: "granted", 402: "denied", 202: "pending", 503: "produce failed"]
            return status.filter { $0.key != 200 }.sorted { $0.key < $1.key }
                .map { "\(fmt($0.value)) \(names[$0.key] ?? "answered \($0.key)")" }.joined(separator: ", ")
        }
    }

    /// `clients` threads, each with its own connection, for `seconds`: hold 10 credits on the
    /// next of its accounts (client `i` uses accounts i, i + clients, …), release it when
    /// granted, and again.
    static func holdCycles(port: Int, clients: Int, seconds: Double, accounts: Int, prefix: String) throws -> HoldCycles {
        let results = Mutex(HoldCycles())
        let start = DispatchTime.now().uptimeNanoseconds
        let end = start + UInt64(seconds * 1e9)
        try onThreads(clients, name: "bench-hold") { i in
            let client = LoopbackHTTPClient(port: port)
            var mine = HoldCycles()
            mine.creates.reserveCapacity(Int(seconds) * 2_000)
            mine.releases.reserveCapacity(Int(seconds) * 2_000)
            var k = 0
            while DispatchTime.now().uptimeNanoseconds < end {
                let account = "hold-\((i + clients * k) % accounts)"
                let hold = "\(prefix)-\(i)-\(k)"
                k += 1
                let t0 = DispatchTime.now().uptimeNanoseconds
                let r = try client.get("/v1/accounts/\(account)/holds", method: "POST",
                                       body: Array("{\"hold_id\":\"\(hold)\",\"credits\":10,\"workflow\":\"bench\"}".utf8))
                let t1 = DispatchTime.now().uptimeNanoseconds
                mine.creates.append(Double(t1 - t0) / 1e6)
                mine.status[r.status, default: 0] += 1
                guard r.status == 201 else { continue }
                let released = try client.get("/v1/accounts/\(account)/holds/\(hold)/release", method: "POST", body: [])
                mine.releases.append(Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e6)
                if released.status != 200 { mine.status[released.status, default: 0] += 1 }
            }
            results.withLock { all in
                all.creates += mine.creates
                all.releases += mine.releases
                all.status.merge(mine.status, uniquingKeysWith: +)
            }
        }
        var all = results.withLock { $0 }
        all.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return all
    }

    /// The service's hold counts and consumer lag, from its `/metrics`.
    struct HoldCounts {
        var granted: Int64 = 0
        var denied: Int64 = 0
        var released: Int64 = 0
        var lag: Int64 = 0

        init(port: Int) throws {
            let text = try LoopbackHTTPClient(port: port).get("/metrics").text
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
                let name = line[..<space]
                switch name {
                case "credit_meter_holds_total{outcome=\"granted\"}": granted = Int64(value)
                case "credit_meter_holds_total{outcome=\"denied\"}": denied = Int64(value)
                case "credit_meter_holds_total{outcome=\"released\"}": released = Int64(value)
                default: if name.hasPrefix("credit_meter_consumer_lag{") { lag += Int64(value) }
                }
            }
        }
    }

    /// CPU seconds of the service, the broker and this process (the clients) since `init`.
    struct CPUShares {
        let service: pid_t
        let broker: pid_t
        let start: (Double, Double, Double)

        init(service: pid_t, broker: pid_t) {
            self.service = service
            self.broker = broker
            start = (ProcessStats.cpuSeconds(pid: service), ProcessStats.cpuSeconds(pid: broker), ProcessStats.cpuSeconds())
        }

        /// "service x, broker y, clients z cores = … µs per hold" over `seconds` and `holds`.
        func text(over seconds: Double, holds: Int) -> String {
            let s = ProcessStats.cpuSeconds(pid: service) - start.0
            let b = ProcessStats.cpuSeconds(pid: broker) - start.1
            let c = ProcessStats.cpuSeconds() - start.2
            func cores(_ x: Double) -> String { String(format: "%.2f", x / seconds) }
            func perHold(_ x: Double) -> String { "\(Int(x * 1e6 / Double(max(holds, 1))))" }
            return "service \(cores(s)), broker \(cores(b)), clients \(cores(c)) cores = \(perHold(s)) + \(perHold(b)) + \(perHold(c)) µs per hold"
        }
    }

    /// The 1, 5 and 15 minute load averages (`/proc/loadavg`): every figure is printed beside them.
    static func loadAverage() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}

/// Percentiles of latencies in milliseconds.
struct Percentiles {
    let p50: Double
    let p90: Double
    let p99: Double
    let max: Double

    init(_ values: [Double]) {
        let l = values.sorted()
        func pct(_ p: Double) -> Double { l.isEmpty ? 0 : l[Swift.min(l.count - 1, Int(Double(l.count) * p))] }
        p50 = pct(0.50)
        p90 = pct(0.90)
        p99 = pct(0.99)
        max = l.last ?? 0
    }

    var text: String {
        "p50 " + String(format: "%.2f", p50) + ", p90 " + String(format: "%.2f", p90) + ", p99 " + String(format: "%.2f", p99)
            + ", max " + String(format: "%.2f", max) + " ms"
    }
}
