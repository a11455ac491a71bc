import Logging

/// Where the consuming thread's time goes, per progress interval: a latency profile of the
/// loop under load, logged at debug level with the progress line (`bench --only latency`
/// prints it). A record that arrives while the loop is busy waits until the next poll, so the
/// figures that bound alert latency are the busy stretches between polls (`gap`) and what
/// fills them; `age` says how much of a record's latency was spent before the loop saw it.
/// A few clock reads per iteration, none per record.
struct LoopProfile {
    typealias Instant = ContinuousClock.Instant

    /// Total and longest time of one kind of work.
    struct Span {
        var total: Duration = .zero
        var longest: Duration = .zero
        var count = 0

        mutating func add(_ d: Duration) {
            total += d
            if d > longest { longest = d }
            count += 1
        }

        var text: String { "\(ms(total)) (\(count)×, longest \(ms(longest)))" }
    }

    /// How old records are when the loop first sees them: the wall clock when the poll that
    /// returned them began delivering, minus the record's timestamp (its producer's clock when
    /// it is a create time), in whole milliseconds — the input crossing: the producer's linger,
    /// the broker, the fetch wait, the consumer's queue. Ages of 1 s or more share the last
    /// bucket (a loop catching up sees old records).
    struct Ages {
        static let buckets = 1001
        var counts = [Int](repeating: 0, count: Ages.buckets)
        var total = 0

        mutating func add(timestampMs: Int64, seenMs: Int64) {
            let age = min(max(0, seenMs - timestampMs), Int64(Ages.buckets - 1))
            counts[Int(age)] += 1
            total += 1
        }

        func percentile(_ p: Double) -> String {
            guard total > 0 else { return "-" }
            let rank = min(total, max(1, Int((Double(total) * p).rounded(.up))))
            var seen = 0
            for (ms, n) in counts.enumerated() {
                seen += n
                if seen >= rank { return ms == Ages.buckets - 1 ? "≥ \(ms) ms" : "\(ms) ms" }
            }
            return "-"
        }

        var text: String { total == 0 ? "-" : "p50 \(percentile(0.5)), p90 \(percentile(0.9)), p99 \(percentile(0.99))" }
    }

    var iterations = 0
    var records = 0
    /// Waiting in the poll for a first record.
    var wait = Span()
    /// Applying the records of one poll, their alerts produced.
    var apply = Span()
    /// Serving the producer's delivery reports, the health check.
    var outputs = Span()
    var views = Span()
    var balances = Span()
    var snapshot = Span()
    /// Busy between two polls' waits: what a record arriving then waits for.
    var gap = Span()
    /// Gaps of more than 5 and 20 ms.
    var gapsOver5ms = 0
    var gapsOver20ms = 0
    var age = Ages()

    mutating func endIteration(waitEnded: Instant, now: Instant) {
        iterations += 1
        let g = now - waitEnded
        gap.add(g)
        if g > .milliseconds(5) { gapsOver5ms += 1 }
        if g > .milliseconds(20) { gapsOver20ms += 1 }
    }

    /// Logs the figures since the last call (at debug level) and starts over.
    mutating func log(_ logger: Logger) {
        guard logger.logLevel <= .debug else { self = LoopProfile(); return }
        logger.debug("loop profile", metadata: [
            "iterations": "\(iterations)", "records": "\(records)", "wait": "\(wait.text)", "apply": "\(apply.text)",
            "outputs": "\(outputs.text)", "views": "\(views.text)", "balances": "\(balances.text)", "snapshot": "\(snapshot.text)",
            "gap": "\(gap.text)", "age_at_poll": "\(age.text)", "gaps_over_5ms": "\(gapsOver5ms)", "gaps_over_20ms": "\(gapsOver20ms)",
        ])
        self = LoopProfile()
    }

    static func ms(_ d: Duration) -> String {
        let (s, atto) = d.components
        let tenths = (s * 10_000 + atto / 100_000_000_000_000)
        return "\(tenths / 10).\(tenths % 10) ms"
    }
}
