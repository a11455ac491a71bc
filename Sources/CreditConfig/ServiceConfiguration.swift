import Foundation
import Yams
public import CreditEngine

/// credit-meter.yaml (contract §10), resolved: paths made absolute (relative to the file),
/// environment overrides applied, rate cards and price book loaded and validated.
public struct ServiceConfiguration: Sendable {
    public struct Kafka: Sendable, Equatable {
        public var bootstrapServers = "localhost:9092"
        public var groupID = "credit-meter"
        public var inputTopics = ["ai.usage"]
        public var alertsTopic = "credit.alerts"
        public var deadLetterTopic = "ai.usage.dlq"
        public var balancesTopic: String? = "credit.balances"
        /// Auto top-up requests (§12).
        public var requestsTopic = "credit.requests"
        /// Partition state kept in Kafka (§13); nil = local snapshots only.
        public var stateTopic: String?
        /// Passed to librdkafka as given, in file order.
        public var properties: [String: String] = [:]
        public init() {}
        public var isEmbedded: Bool { bootstrapServers == "embedded" }
    }

    public struct Snapshots: Sendable, Equatable {
        public var dir: String
        public var intervalSeconds: Int = 10
        public var keep: Int = 3
    }

    public struct HTTP: Sendable, Equatable {
        public var listen = "127.0.0.1:8080"
        public var token: String?
        /// /readyz: every assigned partition's lag (high watermark − position) at most this.
        public var readyMaxLag: Int = 1000
        /// This instance's URL for §11's redirects (§13); nil = not advertised.
        public var advertisedURL: String?
        /// How long a hold route (§15) waits for its event to be applied before answering 202.
        public var holdTimeoutMs: Int = 2000
    }

    public var file: String
    public var kafka = Kafka()
    public var rateCardsDir: String
    public var priceBookPath: String
    public var snapshots: Snapshots
    public var thresholds: [Int] = [20, 10]
    public var dedupeWindowHours: Int = 24
    public var http = HTTP()
    /// `access.mode` (§11 /check).
    public var accessMode: AccessMode = .soft
    /// `alerts.runway_days` (§12); nil = no runway alert.
    public var runwayDays: Int?
    /// Rate-card versions → the file each came from.
    public var rateCardFiles: [String: String] = [:]
    public var engine: EngineConfiguration

    /// Every overridable scalar path; `CREDIT_METER_<PATH>` with dots and case folded.
    public static let overridablePaths = [
        "kafka.bootstrap_servers", "kafka.group_id", "kafka.input_topics", "kafka.alerts_topic",
        "kafka.dead_letter_topic", "kafka.balances_topic", "rate_cards_dir", "price_book",
        "snapshots.dir", "snapshots.interval_seconds", "snapshots.keep", "alerts.thresholds_percent",
        "dedupe.window_hours", "http.listen", "http.token",
        "kafka.requests_topic", "kafka.state_topic", "access.mode", "alerts.runway_days", "http.ready_max_lag",
        "http.advertised_url", "http.hold_timeout_ms",
    ]

    public static func environmentName(_ path: String) -> String {
        "CREDIT_METER_" + path.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// `CREDIT_METER_…` variables read by the program itself rather than the configuration
    /// (the command line's log level); they are not refused as unknown.
    public static let programVariables = ["CREDIT_METER_LOG_LEVEL"]

    /// `CREDIT_METER_KAFKA_PROPERTIES_<NAME>`: one librdkafka property each (open-ended).
    public static let propertyPrefix = "CREDIT_METER_KAFKA_PROPERTIES_"

    /// Refuses a `CREDIT_METER_…` variable that names no configuration key, as a misspelt
    /// YAML key is refused (contract §10): one error naming the variable and the nearest
    /// known name. Variables are checked in name order, so the error is the same every run.
    static func checkEnvironmentNames(_ environment: [String: String]) throws(ConfigError) {
        let known = Set(overridablePaths.map(environmentName) + programVariables)
        for name in environment.keys.sorted() where name.hasPrefix("CREDIT_METER_") && !known.contains(name) {
            if name.hasPrefix(propertyPrefix) {
                guard name.count > propertyPrefix.count else {
                    throw ConfigError(file: "environment", key: name, "names no librdkafka property (\(propertyPrefix)<NAME>, e.g. \(propertyPrefix)SASL_MECHANISM)")
                }
                continue
            }
            let nearest = known.min { (editDistance(name, $0), $0) < (editDistance(name, $1), $1) } ?? ""
            throw ConfigError(file: "environment", key: name, "names no configuration key (did you mean \(nearest)?)")
        }
    }

    /// Levenshtein distance over UTF-8 bytes (variable names are ASCII).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// Loads and validates everything. Errors name the file and the key.
    public static func load(path: String, environment: [String: String]? = nil,
                            files: ConfigFiles = .disk) throws(ConfigError) -> ServiceConfiguration {
        let environment = environment ?? ProcessInfo.processInfo.environment
        try checkEnvironmentNames(environment)
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let file = url.path
        let base = url.deletingLastPathComponent()
        let text: String
        do { text = try files.read(file) } catch {
            throw ConfigError(file: file, key: "", "cannot be read (\(Self.reason(error)))")
        }
        let root = try YAMLValue.parse(text, file: file)
        let m = try root.mapping(allowed: ["kafka", "rate_cards_dir", "price_book", "snapshots", "alerts", "dedupe", "http", "access"])

        // Flatten the file into path → text so environment overrides apply uniformly.
        var scalars: [String: String] = [:]
        var lists: [String: [String]] = [:]
        var properties: [String: String] = [:]
        func scalar(_ v: YAMLValue?) throws(ConfigError) {
            guard let v else { return }
            scalars[v.path] = v.isNull ? "" : try v.string()
        }
        func list(_ v: YAMLValue?) throws(ConfigError) {
            guard let v else { return }
            var out: [String] = []
            for item in try v.sequence() { out.append(try item.string()) }
            lists[v.path] = out
        }
        if let k = m["kafka"] {
            let km = try k.mapping(allowed: ["bootstrap_servers", "group_id", "input_topics", "alerts_topic", "dead_letter_topic", "balances_topic",
                                             "requests_topic", "state_topic", "properties"])
            for key in ["bootstrap_servers", "group_id", "alerts_topic", "dead_letter_topic", "balances_topic", "requests_topic", "state_topic"] {
                try scalar(km[key])
            }
            try list(km["input_topics"])
            if let p = km["properties"] {
                for (name, v) in try p.namedEntries() { properties[name] = try v.string() }
            }
        }
        try scalar(m["rate_cards_dir"])
        try scalar(m["price_book"])
        if let s = m["snapshots"] {
            let sm = try s.mapping(allowed: ["dir", "interval_seconds", "keep"])
            for key in ["dir", "interval_seconds", "keep"] { try scalar(sm[key]) }
        }
        if let a = m["alerts"] {
            let am = try a.mapping(allowed: ["thresholds_percent", "runway_days"])
            try list(am["thresholds_percent"])
            try scalar(am["runway_days"])
        }
        if let a = m["access"] {
            let am = try a.mapping(allowed: ["mode"])
            try scalar(am["mode"])
        }
        if let d = m["dedupe"] {
            let dm = try d.mapping(allowed: ["window_hours"])
            try scalar(dm["window_hours"])
        }
        if let h = m["http"] {
            let hm = try h.mapping(allowed: ["listen", "token", "ready_max_lag", "advertised_url", "hold_timeout_ms"])
            for key in ["listen", "token", "ready_max_lag", "advertised_url", "hold_timeout_ms"] { try scalar(hm[key]) }
        }
        // Environment overrides.
        var origin: [String: String] = [:]  // path → where its value came from (for errors)
        for path in overridablePaths {
            let name = environmentName(path)
            guard let value = environment[name] else { continue }
            origin[path] = name
            if path == "kafka.input_topics" || path == "alerts.thresholds_percent" {
                lists[path] = value.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
            } else {
                scalars[path] = value
            }
        }
        for (name, value) in environment where name.hasPrefix(propertyPrefix) {
            let property = name.dropFirst(propertyPrefix.count).lowercased().replacingOccurrences(of: "_", with: ".")
            properties[property] = value
        }
        func fail(_ path: String, _ message: String) -> ConfigError {
            if let env = origin[path] { return ConfigError(file: "environment", key: env, message) }
            return ConfigError(file: file, key: path, message)
        }
        func int(_ path: String, _ range: ClosedRange<Int>, default d: Int) throws(ConfigError) -> Int {
            guard let text = scalars[path] else { return d }
            guard let v = Int(text.trimmingSpaces), range.contains(v) else {
                throw fail(path, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return v
        }
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardizedFileURL.path
        }

        var kafka = Kafka()
        if let v = scalars["kafka.bootstrap_servers"] {
            guard !v.isEmpty else { throw fail("kafka.bootstrap_servers", "must not be empty") }
            kafka.bootstrapServers = v
        }
        if let v = scalars["kafka.group_id"] {
            guard !v.isEmpty else { throw fail("kafka.group_id", "must not be empty") }
            kafka.groupID = v
        }
        if let v = lists["kafka.input_topics"] {
            guard !v.isEmpty else { throw fail("kafka.input_topics", "must list at least one topic") }
            kafka.inputTopics = v
        }
        for (path, keyPath) in [("kafka.alerts_topic", \Kafka.alertsTopic), ("kafka.dead_letter_topic", \Kafka.deadLetterTopic)] {
            if let v = scalars[path] {
                guard !v.isEmpty else { throw fail(path, "must not be empty") }
                kafka[keyPath: keyPath] = v
            }
        }
        if let v = scalars["kafka.balances_topic"] { kafka.balancesTopic = v.isEmpty || v == "null" ? nil : v }
        if let v = scalars["kafka.requests_topic"] {
            guard !v.isEmpty else { throw fail("kafka.requests_topic", "must not be empty") }
            kafka.requestsTopic = v
        }
        if let v = scalars["kafka.state_topic"] { kafka.stateTopic = v.isEmpty || v == "null" ? nil : v }
        kafka.properties = properties
        let outputs = [kafka.alertsTopic, kafka.deadLetterTopic, kafka.requestsTopic] + (kafka.balancesTopic.map { [$0] } ?? [])
            + (kafka.stateTopic.map { [$0] } ?? [])
        for t in kafka.inputTopics where outputs.contains(t) {
            throw fail("kafka.input_topics", "\"\(t)\" is also an output topic")
        }

        let rateCardsDir = resolve(scalars["rate_cards_dir"] ?? "rate-cards")
        let priceBookPath = resolve(scalars["price_book"] ?? "price-book.yaml")
        let snapshots = Snapshots(dir: resolve(scalars["snapshots.dir"].flatMap { $0.isEmpty ? nil : $0 } ?? "../var/snapshots"),
                                  intervalSeconds: try int("snapshots.interval_seconds", 1...86_400, default: 10),
                                  keep: try int("snapshots.keep", 1...1000, default: 3))
        var thresholds = [20, 10]
        if let t = lists["alerts.thresholds_percent"] {
            thresholds = []
            for item in t {
                guard let v = Int(item.trimmingSpaces), (1...100).contains(v) else {
                    throw fail("alerts.thresholds_percent", "\"\(item)\" is not a whole percent from 1 to 100")
                }
                thresholds.append(v)
            }
        }
        let window = try int("dedupe.window_hours", 0...8760, default: 24)
        var http = HTTP()
        if let v = scalars["http.listen"], !v.isEmpty { http.listen = v }
        if let v = scalars["http.token"], !v.isEmpty { http.token = v }
        http.readyMaxLag = try int("http.ready_max_lag", 0...1_000_000_000_000, default: 1000)
        http.holdTimeoutMs = try int("http.hold_timeout_ms", 1...60_000, default: 2000)
        if let v = scalars["http.advertised_url"], !v.isEmpty, v != "null" {
            guard v.hasPrefix("http://") || v.hasPrefix("https://"), v.count > 8, !v.contains(" ") else {
                throw fail("http.advertised_url", "must be an http:// or https:// URL")
            }
            http.advertisedURL = v
        }
        var accessMode = AccessMode.soft
        if let v = scalars["access.mode"], !v.isEmpty {
            guard let mode = AccessMode(rawValue: v.trimmingSpaces) else { throw fail("access.mode", "must be soft or hard") }
            accessMode = mode
        }
        var runwayDays: Int?
        if let v = scalars["alerts.runway_days"], !v.isEmpty, v != "null" {
            runwayDays = try int("alerts.runway_days", 1...366, default: 0)
        }

        let (cards, cardFiles) = try loadRateCards(dir: rateCardsDir, files: files)
        let book = try loadPriceBook(path: priceBookPath, files: files)
        let rateBook: RateCardBook
        do { rateBook = try RateCardBook(cards) } catch {
            var e = error
            let version = cards.first { error.message.contains("\"\($0.version)\"") }?.version
            e.file = version.flatMap { cardFiles[$0] } ?? rateCardsDir
            throw e
        }
        let engine: EngineConfiguration
        do {
            engine = try EngineConfiguration(rateCards: rateBook, priceBook: book, thresholds: thresholds, dedupeWindowHours: window,
                                             runwayDays: runwayDays)
        } catch {
            throw fail(error.key, error.message)
        }
        return ServiceConfiguration(file: file, kafka: kafka, rateCardsDir: rateCardsDir, priceBookPath: priceBookPath,
                                    snapshots: snapshots, thresholds: thresholds, dedupeWindowHours: window, http: http,
                                    accessMode: accessMode, runwayDays: runwayDays, rateCardFiles: cardFiles, engine: engine)
    }

    public static func loadRateCards(dir: String, files source: ConfigFiles = .disk) throws(ConfigError) -> ([RateCard], [String: String]) {
        let names: [String]
        do { names = try source.list(dir) } catch {
            throw ConfigError(file: dir, key: "", "rate-card folder cannot be read (\(reason(error)))")
        }
        var cards: [RateCard] = []
        var files: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            let path = (dir as NSString).appendingPathComponent(name)
            let text: String
            do { text = try source.read(path) } catch {
                throw ConfigError(file: path, key: "", "cannot be read (\(reason(error)))")
            }
            let card = try RateCardLoader.parseRateCard(text, file: path)
            if let other = files[card.version] {
                throw ConfigError(file: path, key: "version", "duplicate rate-card version \"\(card.version)\" (also in \(other))")
            }
            files[card.version] = path
            cards.append(card)
        }
        guard !cards.isEmpty else { throw ConfigError(file: dir, key: "", "holds no rate cards (*.yaml)") }
        return (cards, files)
    }

    public static func loadPriceBook(path: String, files: ConfigFiles = .disk) throws(ConfigError) -> PriceBook {
        let text: String
        do { text = try files.read(path) } catch {
            throw ConfigError(file: path, key: "", "cannot be read (\(reason(error)))")
        }
        return try RateCardLoader.parsePriceBook(text, file: path)
    }

    static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain && (ns.code == NSFileReadNoSuchFileError || ns.code == NSFileNoSuchFileError) {
            return "no such file"
        }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return ns.localizedDescription
    }
}
