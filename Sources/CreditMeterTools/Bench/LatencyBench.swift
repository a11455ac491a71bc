import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging

/// Figure 4: produce → alert latency at a paced rate, beside the broker's own produce → consume crossing.
extension Bench {
    static func latency(config: ServiceConfiguration, bootstrap: String, rate: Double, logger: Logger,
                        say: @escaping @Sendable (String) -> Void) async throws {
        var cfg = config
        cfg.kafka.groupID = "bench-latency"
        cfg.kafka.inputTopics = ["bench.latency"]
        cfg.kafka.balancesTopic = cfg.kafka.balancesTopic ?? "credit.balances"
        let service = MeterService(config: cfg, logger: logger, bootstrap: bootstrap)
        let task = Task { try await service.run() }
        try await pacedAlerts(bootstrap: bootstrap, alertsTopic: cfg.kafka.alertsTopic, balancesTopic: cfg.kafka.balancesTopic!,
                              rate: rate, logger: logger, label: "broker, service and load in one process", say: say)
        service.requestStop()
        try await task.value
    }

    /// Produces plans for 20 000 trial accounts, waits until the service has published their
    /// balances (it is consuming), then 12 web_research events per account at `rate`: alerts
    /// at the 8th, 9th and 10th. Latency = alert arrival − produce call of its triggering event,
    /// beside the broker alone: a plain consumer reading the same events at the same time.
    static func pacedAlerts(bootstrap: String, alertsTopic: String, balancesTopic: String, rate: Double, logger: Logger,
                            label: String, say: @escaping @Sendable (String) -> Void) async throws {
        let accounts = 20_000
        let perAccount = 12
        let producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "0")], logger: logger) { _ in }
        let load = PacedUsage(accounts: accounts)
        try await load.assignPlans(producer: producer, balancesTopic: balancesTopic, bootstrap: bootstrap, logger: logger)

        let total = accounts * perAccount
        // Uptime nanoseconds of each event's produce call and of its arrival at a plain
        // consumer of the same topic (the broker alone, in the same run, under the same load).
        let sent = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: total)
        let crossed = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: total)
        sent.initialize(repeating: 0)
        crossed.initialize(repeating: 0)
        defer { sent.deallocate(); crossed.deallocate() }
        let sentBase = UInt(bitPattern: sent.baseAddress), crossedBase = UInt(bitPattern: crossed.baseAddress)
        let crossings = Locked(0)
        // Each alert: its event, the service's produce of it (the alert record's timestamp:
        // librdkafka stamps the produce call's wall clock, in ms) and its arrival here.
        let alerts = Locked<[(event: Int, producedMs: Int64?, arrived: UInt64)]>([])
        let stopReaders = StopSignal()
        let alertReader = try tail(alertsTopic, bootstrap: bootstrap, logger: logger, stop: stopReaders) { m, now in
            let sent = UnsafeMutablePointer<UInt64>(bitPattern: sentBase)!
            guard let n = lateIndex(m.value, after: "\"triggered_by\":\"lat-"), n < total, sent[n] > 0 else { return }
            alerts.withLock { $0.append((n, m.timestampMs, now)) }
        }
        let inputReader = try tail(PacedUsage.topic, bootstrap: bootstrap, logger: logger, stop: stopReaders) { m, now in
            let sent = UnsafeMutablePointer<UInt64>(bitPattern: sentBase)!
            let crossed = UnsafeMutablePointer<UInt64>(bitPattern: crossedBase)!
            guard let n = lateIndex(m.value, after: "\"id\":\"lat-"), n < total, sent[n] > 0, crossed[n] == 0 else { return }
            crossed[n] = now
            crossings.withLock { $0 += 1 }
        }
        let wallMinusUptimeMs = Int64(Date().timeIntervalSince1970 * 1e3) - Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
        let elapsed = try load.produce(total: total, rate: rate, producer: producer) { i in sent[i] = DispatchTime.now().uptimeNanoseconds }
        let expectedAlerts = accounts * 3
        let deadline = ContinuousClock.now + .seconds(60)
        while (alerts.value.count < expectedAlerts || crossings.value < total) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        stopReaders.request()
        alertReader.join()
        inputReader.join()
        let read = alerts.value
        guard read.count == expectedAlerts else { throw ServiceError("latency: read back \(read.count) of \(expectedAlerts) alerts") }
        guard crossings.value == total else { throw ServiceError("latency: read back \(crossings.value) of \(total) events") }
        func ms(_ from: UInt64, _ to: UInt64) -> Double { (Double(to) - Double(from)) / 1e6 }
        let latency = Percentiles(read.map { ms(sent[$0.event], $0.arrived) })
        let crossing = Percentiles((0..<total).map { ms(sent[$0], crossed[$0]) })
        let echo = try echoLatency(bootstrap: bootstrap, rate: rate, total: min(total, 100_000), logger: logger)
        say("alert latency (\(label)) at " + fmt(Int(Double(total) / elapsed)) + " events/s: " + latency.text + " over \(fmt(read.count)) alerts; "
            + "the broker alone in the same run (the same events → a plain consumer): " + crossing.text
            + "; on an idle broker afterwards (produce → consumer, same rate): " + echo.text)
        // Where an alert's time goes, per alert, split at its record's timestamp (±1 ms):
        // the service = the alert's produce − its event's arrival at the plain consumer (the
        // input crossing taken out), the output crossing = the alert's arrival − its produce.
        let stamped = read.compactMap { a in a.producedMs.map { (a, Double($0 - wallMinusUptimeMs)) } }
        if stamped.count == read.count {
            let service = Percentiles(stamped.map { a, producedMs in producedMs - Double(crossed[a.event]) / 1e6 })
            let output = Percentiles(stamped.map { a, producedMs in Double(a.arrived) / 1e6 - producedMs })
            say("  per alert (±1 ms): its event's crossing " + Percentiles(read.map { ms(sent[$0.event], crossed[$0.event]) }).text
                + "; then the service (the plain consumer's arrival → the alert's produce) " + service.text
                + "; the alert's crossing (produce → read) " + output.text)
        }
    }

    /// A thread reading `topic` from its end (every partition, fetch.wait.max.ms 1) until
    /// `stop`, handing each record and its arrival time (uptime ns) to `body`.
    static func tail(_ topic: String, bootstrap: String, logger: Logger, stop: StopSignal,
                     _ body: @escaping @Sendable (KafkaMessage, UInt64) -> Void) throws -> JoinableThread {
        let reader = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap), ("fetch.wait.max.ms", "1")], logger: logger)
        var offsets: [TopicPartition: Int64] = [:]
        for p in 0..<(try reader.partitionCounts([topic])[topic] ?? 1) {
            let tp = TopicPartition(topic, p)
            offsets[tp] = try reader.watermarks(tp).high
        }
        try reader.assign(offsets)
        return JoinableThread {
            while !stop.isRequested {
                reader.poll(timeoutMs: 10) { m in
                    guard m.error == nil else { return }
                    body(m, DispatchTime.now().uptimeNanoseconds)
                }
            }
        }
    }

    /// The number after `marker` in a record's value (the bench's `lat-N` ids), if any.
    static func lateIndex(_ value: UnsafeRawBufferPointer, after marker: String) -> Int? {
        let text = String(decoding: value, as: UTF8.self)
        guard let r = text.range(of: marker), let n = Int(text[r.upperBound...].prefix { $0 != "\"" }), n >= 0 else { return nil }
        return n
    }

    /// Records ever written to a topic (sum of high watermarks: the mock's retention moves the
    /// low ones, so high − low is not monotonic).
    static func heldIn(_ topic: String, bootstrap: String, logger: Logger) -> Int64 {
        guard let c = try? KafkaConsumer(properties: [("bootstrap.servers", bootstrap)], logger: logger),
              let n = try? c.partitionCounts([topic])[topic] else { return 0 }
        var total: Int64 = 0
        for p in 0..<n { if let w = try? c.watermarks(TopicPartition(topic, p)) { total += w.high } }
        return total
    }

    /// Alert latency with the broker (`credit-meter dev-broker`) and the service
    /// (`credit-meter run`) each in its own process, as deployed; this process only produces
    /// the paced events and reads the alerts.
    static func latencySeparateProcesses(config: ServiceConfiguration, rate: Double, scratch: String, executable: String,
                                         logger: Logger, say: @escaping @Sendable (String) -> Void) async throws {
        let (broker, bootstrap) = try await brokerChild(executable: executable, scratch: scratch)
        defer { broker.terminate() }
        let service = try serviceChild(executable: executable, scratch: scratch, name: "latency", bootstrap: bootstrap, config: config,
                                       properties: config.kafka.properties)
        defer { service.terminate() }
        try await pacedAlerts(bootstrap: bootstrap, alertsTopic: config.kafka.alertsTopic, balancesTopic: config.kafka.balancesTopic ?? "credit.balances",
                              rate: rate, logger: logger, label: "broker and service in separate processes", say: say)
        for line in loopProfile(service) { say("  service loop, 5 s: " + line) }
    }

    /// `credit-meter dev-broker` in a child process with the latency phases' topics; returns it
    /// and its bootstrap servers.
    static func brokerChild(executable: String, scratch: String) async throws -> (MeasuredChild, String) {
        let brokerOut = scratch + "/dev-broker.out"
        let broker = try MeasuredChild(executable, ["dev-broker", "--topic", "\(PacedUsage.topic):16", "--topic", "credit.alerts:16",
                                                    "--topic", "ai.usage.dlq:2", "--topic", "credit.balances:16", "--topic", "bench.echo:16"],
                                       output: brokerOut)
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: brokerOut, encoding: .utf8), let line = text.split(separator: "\n").first {
                return (broker, String(line))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        broker.terminate()
        throw ServiceError("dev-broker did not start")
    }

    /// `credit-meter run` in a child process, consuming `bench.latency` as group
    /// `bench-<name>-procs` (librdkafka `properties` added), HTTP on a free loopback port,
    /// snapshots every 10 s, at debug level for its loop profile (`LoopProfile`, on its standard
    /// error: `loopProfile`).
    static func serviceChild(executable: String, scratch: String, name: String, bootstrap: String, config cfg: ServiceConfiguration,
                             properties: [String: String] = [:]) throws -> MeasuredChild {
        let path = scratch + "/\(name)-run.yaml"
        try """
        kafka:
          bootstrap_servers: \(bootstrap)
          group_id: bench-\(name)-procs
          input_topics: [\(PacedUsage.topic)]
          alerts_topic: \(cfg.kafka.alertsTopic)
          dead_letter_topic: \(cfg.kafka.deadLetterTopic)
          balances_topic: \(cfg.kafka.balancesTopic ?? "credit.balances")
          properties: { \(properties.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")) }
        rate_cards_dir: \(cfg.rateCardsDir)
        price_book: \(cfg.priceBookPath)
        snapshots: { dir: \(scratch)/\(name)-snapshots, interval_seconds: 10, keep: 2 }
        http: { listen: "127.0.0.1:0" }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return try MeasuredChild(executable, ["run", "--config", path, "--log-level", "debug"], output: scratch + "/\(name)-run.out")
    }

    /// The loop profile lines a `serviceChild` has logged so far (the figures after `: `).
    static func loopProfile(_ service: MeasuredChild) -> [String] {
        let lines = ((try? String(contentsOfFile: service.output + ".err", encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("loop profile") }
        return lines.map { line in line.range(of: ": ").map { String(line[$0.upperBound...]) } ?? String(line) }
    }

    /// The broker's own latency: produce → a separate consumer, same pacing, no service.
    static func echoLatency(bootstrap: String, rate: Double, total: Int, logger: Logger) throws -> Percentiles {
        let topic = "bench.echo"
        let producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "0")], logger: logger) { _ in }
        let stop = StopSignal()
        let latencies = Locked<[Double]>([])
        let reader = try tail(topic, bootstrap: bootstrap, logger: logger, stop: stop) { m, now in
            guard m.value.count == 8 else { return }
            let sent = m.value.loadUnaligned(as: UInt64.self)
            latencies.withLock { $0.append(Double(now - sent) / 1e6) }
        }
        let t = producer.topic(topic)
        _ = try paced(total: total, rate: rate, producer: producer) { i in
            var stamp = DispatchTime.now().uptimeNanoseconds
            let key = Array("k\(i % 10_000)".utf8)
            try withUnsafeBytes(of: &stamp) { v in try key.withUnsafeBytes { k in try producer.produce(t, key: k, value: v) } }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while latencies.value.count < total && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        stop.request()
        reader.join()
        let l = latencies.value
        guard l.count == total else { throw ServiceError("echo: read back \(l.count) of \(total) records") }
        return Percentiles(l)
    }

    /// Restart with a tail: a service runs over the workload and stops cleanly (snapshot);
    /// then a tail of new events is produced and a new instance is started. Time from start to
    /// caught up = restore + group join + catch-up.
}
