import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging

/// The paced background load of the latency phases: usage events (`web_research`) on
/// `accounts` trial accounts `lat-0` … in turn, produced to `bench.latency` at a steady rate —
/// event `i` is on account `i % accounts`, one second of event time later for each round.
struct PacedUsage: Sendable {
    static let topic = "bench.latency"
    let accounts: Int
    let t0 = EventTime.parse("2026-11-10T00:00:00Z")!

    static func account(_ a: Int) -> String { "lat-\(a)" }

    /// Produces a trial plan for every account and waits until the service consuming the topic
    /// has published as many balances records.
    func assignPlans(producer: KafkaProducer, balancesTopic: String, bootstrap: String, logger: Logger) async throws {
        let topic = producer.topic(Self.topic)
        let before = Bench.heldIn(balancesTopic, bootstrap: bootstrap, logger: logger)
        for a in 0..<accounts {
            let json = "{\"specversion\":\"1.0\",\"id\":\"plan-\(a)\",\"source\":\"billing\",\"type\":\"credit.plan.assigned\",\"subject\":\"\(Self.account(a))\",\"time\":\"\(EventTime.format(t0))\",\"data\":{\"plan\":\"trial\"}}"
            try Self.send(producer, topic, Self.account(a), json, t0 / 1_000_000)
        }
        try producer.flush(timeoutMs: 30_000)
        let ready = ContinuousClock.now + .seconds(60)
        while Bench.heldIn(balancesTopic, bootstrap: bootstrap, logger: logger) - before < Int64(accounts) {
            guard ContinuousClock.now < ready else { throw ServiceError("latency: the service did not take the plans within 60 s") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Produces usage events `first..<first + total` at `rate` per second (see `Bench.paced`),
    /// until `stop` if given; `willSend(i)` runs just before event `i` is produced. Returns the
    /// seconds it took.
    func produce(from first: Int = 0, total: Int, rate: Double, producer: KafkaProducer, stop: StopSignal? = nil,
                 willSend: (Int) -> Void = { _ in }) throws -> Double {
        let topic = producer.topic(Self.topic)
        return try Bench.paced(total: total, rate: rate, producer: producer, stop: stop) { n in
            let i = first + n
            let a = i % accounts
            let t = t0 + Int64(i / accounts + 1) * EventTime.nanosPerSecond
            let json = "{\"specversion\":\"1.0\",\"id\":\"lat-\(i)\",\"source\":\"//ai.example\",\"type\":\"ai.usage\",\"subject\":\"\(Self.account(a))\",\"time\":\"\(EventTime.format(t))\",\"data\":{\"action\":\"web_research\"}}"
            willSend(i)
            // No record timestamp: librdkafka stamps the produce call's wall clock, which the
            // service's loop profile reads as the record's age when polled (the events' own
            // times are in the past either way, so the ledger sees the same watermark).
            try Self.send(producer, topic, Self.account(a), json, nil)
        }
    }

    static func send(_ producer: KafkaProducer, _ topic: ProducerTopic, _ key: String, _ json: String, _ timestampMs: Int64?) throws {
        let k = Array(key.utf8)
        let v = Array(json.utf8)
        try k.withUnsafeBytes { kb in try v.withUnsafeBytes { vb in try producer.produce(topic, key: kb, value: vb, timestampMs: timestampMs) } }
    }

    /// Runs `produce` at `rate` on a thread of its own until `stop()` (the background load of
    /// `bench --only hold-latency`); rate 0 starts nothing.
    final class Background: @unchecked Sendable {  // `thread` and `produced` are handed over through `finished`
        private let stopSignal = StopSignal()
        private let finished = DispatchSemaphore(value: 0)
        private var produced = 0
        private var seconds = 0.0
        private var failure: (any Error)?
        private let running: Bool

        init(_ load: PacedUsage, rate: Double, firstEvent: Int, producer: KafkaProducer) {
            running = rate > 0
            guard running else { return }
            let thread = Thread { [self] in
                defer { finished.signal() }
                var last = firstEvent - 1
                do {
                    seconds = try load.produce(from: firstEvent, total: Int.max - firstEvent, rate: rate, producer: producer, stop: stopSignal) { i in last = i }
                    produced = last - firstEvent + 1
                } catch {
                    failure = error
                }
            }
            thread.name = "bench-background"
            thread.start()
        }

        /// Stops, flushes; returns the events produced and the seconds they took.
        func stop() throws -> (events: Int, seconds: Double) {
            guard running else { return (0, 0) }
            stopSignal.request()
            finished.wait()
            if let failure { throw failure }
            return (produced, seconds)
        }
    }
}

extension Bench {
    /// Calls `produce(i)` for i in 0..<total at `rate` per second (until `stop`, if given): each
    /// millisecond, the ones due; the thread sleeps in between (a spinning producer would starve
    /// the broker and the service of CPU on 2 cores). Flushes at the end; returns the seconds it took.
    static func paced(total: Int, rate: Double, producer: KafkaProducer, stop: StopSignal? = nil,
                      _ produce: (Int) throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        var i = 0
        while i < total && !(stop?.isRequested ?? false) {
            let now = DispatchTime.now().uptimeNanoseconds
            let due = min(total, Int(Double(now - start) / 1e9 * rate) + 1)
            while i < due { try produce(i); i += 1 }
            producer.poll()
            let spent = DispatchTime.now().uptimeNanoseconds - now
            if spent < 1_000_000 { usleep(UInt32((1_000_000 - spent) / 1_000)) }
        }
        try producer.flush(timeoutMs: 30_000)
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
