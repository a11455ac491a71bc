/// What librdkafka's statistics (`statistics.interval.ms`) say about one client's broker
/// connections: the trouble librdkafka retries silently — transmission and receive errors,
/// request timeouts, retries, disconnects — as its cumulative counters since the client was
/// created. Read from the latest statistics document librdkafka emitted.
public struct KafkaStatistics: Sendable, Equatable {
    /// The client's handle name, e.g. `credit-meter#consumer-1` (unique in the process).
    public var client: String
    /// `consumer` or `producer`.
    public var type: String
    /// Its brokers (librdkafka's internal placeholder broker left out), by name.
    public var brokers: [Broker]

    public struct Broker: Sendable, Equatable {
        /// `host:port/id` (`/bootstrap` before the first metadata; logical brokers such as
        /// `GroupCoordinator` have their own connection and are listed too).
        public var name: String
        /// `txerrs`: requests that could not be sent.
        public var transmitErrors: Int64 = 0
        /// `txretries`: requests sent again.
        public var retries: Int64 = 0
        /// `rxerrs`: responses that could not be received or parsed.
        public var receiveErrors: Int64 = 0
        /// `req_timeouts`: requests that timed out.
        public var requestTimeouts: Int64 = 0
        /// `connects`: connection attempts, failed ones included.
        public var connects: Int64 = 0
        /// `disconnects`: connections lost (broker, network, load balancer, idle reaper).
        public var disconnects: Int64 = 0

        public init(name: String) { self.name = name }
    }

    /// The latest statistics of every live client of this process whose properties turn them
    /// on, by client name. Parsed here, on the caller's thread.
    public static func ofThisProcess() -> [KafkaStatistics] {
        RDKafkaStatistics.all().compactMap { KafkaStatistics(json: $0) }.sorted { $0.client < $1.client }
    }

    /// Parses librdkafka's statistics JSON; nil when it is not a statistics document.
    public init?(json: [UInt8]) {
        var reader = StatisticsReader(json)
        var client: String?, type = "", brokers: [Broker] = []
        do throws(StatisticsReader.Malformed) {
            try reader.object { r, key throws(StatisticsReader.Malformed) in
                switch key {
                case "name": client = try r.string()
                case "type": type = try r.string()
                case "brokers":
                    try r.object { r, name throws(StatisticsReader.Malformed) in
                        var broker = Broker(name: name)
                        var placeholder = false
                        try r.object { r, field throws(StatisticsReader.Malformed) in
                            switch field {
                            case "source": placeholder = try r.string() == "internal"
                            case "txerrs": broker.transmitErrors = try r.integer()
                            case "txretries": broker.retries = try r.integer()
                            case "rxerrs": broker.receiveErrors = try r.integer()
                            case "req_timeouts": broker.requestTimeouts = try r.integer()
                            case "connects": broker.connects = try r.integer()
                            case "disconnects": broker.disconnects = try r.integer()
                            default: try r.skipValue()
                            }
                        }
                        if !placeholder { brokers.append(broker) }
                    }
                default: try r.skipValue()
                }
            }
        } catch {
            return nil
        }
        guard let client else { return nil }
        self.client = client
        self.type = type
        self.brokers = brokers.sorted { $0.name < $1.name }
    }
}

/// A small strict JSON reader for the statistics document: objects walked key by key, the
/// values the caller wants read, everything else skipped (nested objects and arrays
/// included). No Foundation; runs only when statistics are asked for.
struct StatisticsReader {
    struct Malformed: Error {}

    private let bytes: [UInt8]
    private var i = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func take(_ c: UInt8) throws(Malformed) {
        skipSpace()
        guard i < bytes.count, bytes[i] == c else { throw Malformed() }
        i += 1
    }

    private mutating func peek() -> UInt8? {
        skipSpace()
        return i < bytes.count ? bytes[i] : nil
    }

    /// Calls `body` with each key; `body` must consume the value.
    mutating func object(_ body: (inout StatisticsReader, String) throws(Malformed) -> Void) throws(Malformed) {
        try take(UInt8(ascii: "{"))
        if peek() == UInt8(ascii: "}") { i += 1; return }
        while true {
            let key = try string()
            try take(UInt8(ascii: ":"))
            try body(&self, key)
            if peek() == UInt8(ascii: ",") { i += 1; continue }
            try take(UInt8(ascii: "}"))
            return
        }
    }

    mutating func string() throws(Malformed) -> String {
        try take(UInt8(ascii: "\""))
        var out: [UInt8] = []
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw Malformed() }
                return s
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { throw Malformed() }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16) else {
                        throw Malformed()
                    }
                    i += 4
                    // Lone surrogates (never in librdkafka's output) become U+FFFD.
                    out.append(contentsOf: String(Character(Unicode.Scalar(v) ?? "\u{FFFD}")).utf8)
                default: out.append(e)  // \" \\ \/
                }
            default:
                out.append(c)
            }
        }
        throw Malformed()
    }

    /// An integer value (librdkafka's counters); a fraction or exponent is refused.
    mutating func integer() throws(Malformed) -> Int64 {
        skipSpace()
        let start = i
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        while i < bytes.count, bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
        guard let v = Int64(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw Malformed() }
        return v
    }

    /// Skips one value of any kind.
    mutating func skipValue() throws(Malformed) {
        switch peek() {
        case UInt8(ascii: "{")?:
            try object { r, _ throws(Malformed) in try r.skipValue() }
        case UInt8(ascii: "[")?:
            i += 1
            if peek() == UInt8(ascii: "]") { i += 1; return }
            while true {
                try skipValue()
                if peek() == UInt8(ascii: ",") { i += 1; continue }
                try take(UInt8(ascii: "]"))
                return
            }
        case UInt8(ascii: "\"")?:
            _ = try string()
        case .some:
            // A number, true, false or null: up to the next delimiter.
            let start = i
            while i < bytes.count, !Self.delimiters.contains(bytes[i]) { i += 1 }
            guard i > start else { throw Malformed() }
        case nil:
            throw Malformed()
        }
    }

    private static let delimiters: Set<UInt8> = [UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09]
}
