/// Everything the engine needs from configuration. Immutable and shared by partitions.
public final class EngineConfiguration: Sendable {
    public let rateCards: RateCardBook
    public let priceBook: PriceBook
    /// Alert thresholds in percent, sorted high → low (default 20, 10).
    public let thresholds: [Int64]
    public let dedupeWindowHours: Int64
    /// An event more than this far ahead of its record's timestamp is bad input (24 h).
    public let maxFutureSkew: Int64
    /// `alerts.runway_days` (§12): the runway alert fires when the balance would run out within
    /// this many days before the cycle ends; nil = off.
    public let runwayDays: Int64?

    public init(rateCards: RateCardBook, priceBook: PriceBook, thresholds: [Int] = [20, 10],
                dedupeWindowHours: Int = 24, maxFutureSkew: Int64 = 24 * EventTime.nanosPerHour,
                runwayDays: Int? = nil) throws(ConfigError) {
        guard thresholds.count <= 8 else { throw ConfigError(key: "alerts.thresholds_percent", "at most 8 thresholds") }
        guard Set(thresholds).count == thresholds.count else { throw ConfigError(key: "alerts.thresholds_percent", "duplicate threshold") }
        for t in thresholds where !(1...100).contains(t) {
            throw ConfigError(key: "alerts.thresholds_percent", "\(t) is not a whole percent from 1 to 100")
        }
        guard dedupeWindowHours >= 0, dedupeWindowHours <= 24 * 365 else {
            throw ConfigError(key: "dedupe.window_hours", "must be from 0 to 8760")
        }
        self.rateCards = rateCards
        self.priceBook = priceBook
        self.thresholds = thresholds.sorted(by: >).map(Int64.init)
        self.dedupeWindowHours = Int64(dedupeWindowHours)
        self.maxFutureSkew = maxFutureSkew
        if let d = runwayDays, !(1...366).contains(d) { throw ConfigError(key: "alerts.runway_days", "must be a whole number from 1 to 366") }
        self.runwayDays = runwayDays.map(Int64.init)
    }
}
