/// Reads CloudEvents JSON (structured mode, or binary mode's `data`) straight from the
/// record bytes: no Foundation, no intermediate objects, no allocation in the steady state.
/// Handles any key order, whitespace, escapes and unknown extension attributes.
///
/// Not thread-safe: one decoder per consuming thread. Views in the returned event are valid
/// until the next call.
public final class EventDecoder {
    public static let maxRecordBytes = 1 << 20
    public static let maxQuantity: Int64 = 1_000_000_000
    public static let maxTokens: Int64 = 1_000_000_000_000
    public static let maxToolCalls: Int64 = 1_000_000_000
    /// 10⁹ USD in nano-dollars.
    public static let maxCostNanoUSD: Int64 = 1_000_000_000 * 1_000_000_000

    /// Room for every decoded (unescaped) string of one record: never longer than the record,
    /// which is at most `maxRecordBytes`. Allocated once; pages are touched only as used.
    private let scratch: UnsafeMutablePointer<UInt8>

    public init() {
        scratch = .allocate(capacity: Self.maxRecordBytes + 64)
    }

    deinit { scratch.deallocate() }

    // Top-level attribute bits, to refuse duplicate keys.
    private struct Seen: OptionSet {
        let rawValue: UInt16
        /// A method on the value, not a nested function capturing it: a captured `var` is
        /// boxed and every access to it checked for exclusivity at run time (`swift_beginAccess`,
        /// ~4 % of the engine's profile).
        @inline(__always)
        mutating func mark(_ bit: Seen, _ name: StaticString) throws(DecodeFailure) {
            if contains(bit) { throw .duplicateKey(name) }
            insert(bit)
        }
        static let specversion = Seen(rawValue: 1)
        static let id = Seen(rawValue: 2)
        static let source = Seen(rawValue: 4)
        static let type = Seen(rawValue: 8)
        static let subject = Seen(rawValue: 16)
        static let time = Seen(rawValue: 32)
        static let data = Seen(rawValue: 64)
    }

    /// Decodes a structured-mode CloudEvent.
    public func decode(_ value: UnsafeRawBufferPointer) throws(DecodeFailure) -> DecodedEvent {
        guard value.count <= Self.maxRecordBytes else { throw .tooLarge(bytes: value.count) }
        guard value.count > 0, let _ = value.baseAddress else { throw .emptyValue }
        var s = JSONScanner(value, scratch: scratch)
        var e = DecodedEvent()
        var seen: Seen = []
        var typeBytes: UnsafeRawBufferPointer?
        var dataStart = -1
        var dataEnd = -1
        var timeBytes: UnsafeRawBufferPointer?
        var dataParsed = false

        guard s.peek() == UInt8(ascii: "{") else { throw .notAnObject }
        s.pos += 1
        if s.peek() != UInt8(ascii: "}") {
            repeat {
                let key = try s.readString()
                try s.expect(UInt8(ascii: ":"), "expected ':'")
                // Each attribute is read inline on purpose: a shared nested helper capturing the
                // scanner is not inlined, and costs about half the decode throughput.
                switch key.count {
                case 2 where key.equals("id"):
                    try seen.mark(.id, "id")
                    guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError("id", expected: "a string") }
                    e.id = try s.readString()
                case 4 where key.equals("type"):
                    try seen.mark(.type, "type")
                    guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError("type", expected: "a string") }
                    typeBytes = try s.readString()
                case 4 where key.equals("time"):
                    try seen.mark(.time, "time")
                    guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError("time", expected: "an RFC 3339 string") }
                    timeBytes = try s.readString()
                case 4 where key.equals("data"):
                    try seen.mark(.data, "data")
                    guard s.peek() == UInt8(ascii: "{") else { throw s.typeError("data", expected: "an object") }
                    if let typeBytes, let t = EventType.from(typeBytes) {
                        // The usual order (type before data): read it in place, once.
                        e.type = t
                        s.level = 2
                        try decodeData(&s, into: &e)
                        s.level = 1
                        dataParsed = true
                    } else {
                        dataStart = s.pos
                        try s.skipValue()
                        dataEnd = s.pos
                    }
                case 6 where key.equals("source"):
                    try seen.mark(.source, "source")
                    guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError("source", expected: "a string") }
                    e.source = try s.readString()
                case 7 where key.equals("subject"):
                    try seen.mark(.subject, "subject")
                    guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError("subject", expected: "a string") }
                    e.subject = try s.readString()
                case 11 where key.equals("specversion"):
                    try seen.mark(.specversion, "specversion")
                    guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError("specversion", expected: "the string \"1.0\"") }
                    guard try s.readString().equals("1.0") else { throw .invalid("specversion", "must be \"1.0\"") }
                default:
                    try s.skipValue()  // extension attributes, datacontenttype, dataschema …
                }
            } while try s.nextMember()
        } else {
            s.pos += 1
        }
        s.skipWhitespace()
        guard s.pos == s.end else { throw s.fail("unexpected bytes after the event object") }

        guard seen.contains(.specversion) else { throw .missing("specversion") }
        guard seen.contains(.id) else { throw .missing("id") }
        guard seen.contains(.source) else { throw .missing("source") }
        guard let typeBytes else { throw .missing("type") }
        guard seen.contains(.subject) else { throw .missing("subject") }
        guard let timeBytes else { throw .missing("time") }
        guard dataParsed || dataStart >= 0 else { throw .missing("data") }
        try checkEnvelope(&e, type: typeBytes, time: timeBytes)
        if !dataParsed {
            var d = JSONScanner(value, start: dataStart, end: dataEnd, scratch: scratch, scratchUsed: s.scratchUsed)
            d.level = 2
            try decodeData(&d, into: &e)
        }
        try checkTimes(e)
        return e
    }

    /// Decodes a binary-mode CloudEvent: attributes from `ce_*` headers, `value` is `data`.
    public func decode(_ value: UnsafeRawBufferPointer, binary attributes: BinaryModeAttributes) throws(DecodeFailure) -> DecodedEvent {
        guard value.count <= Self.maxRecordBytes else { throw .tooLarge(bytes: value.count) }
        guard let spec = attributes.specversion else { throw .missing("ce_specversion") }
        guard spec.equals("1.0") else { throw .invalid("ce_specversion", "must be \"1.0\"") }
        guard let id = attributes.id else { throw .missing("ce_id") }
        guard let source = attributes.source else { throw .missing("ce_source") }
        guard let type = attributes.type else { throw .missing("ce_type") }
        guard let subject = attributes.subject else { throw .missing("ce_subject") }
        guard let time = attributes.time else { throw .missing("ce_time") }
        // Each header in turn (an array literal of them allocated once per record).
        guard UTF8Check.isValid(id), UTF8Check.isValid(source), UTF8Check.isValid(type),
              UTF8Check.isValid(subject), UTF8Check.isValid(time) else {
            throw .invalid("ce_*", "header is not valid UTF-8")
        }
        try Self.refuseControlCharacters(id: id, source: source, subject: subject)
        var e = DecodedEvent()
        e.id = id
        e.source = source
        e.subject = subject
        try checkEnvelope(&e, type: type, time: time)
        guard value.count > 0, value.baseAddress != nil else { throw .missing("data") }
        var d = JSONScanner(value, scratch: scratch)
        guard d.peek() == UInt8(ascii: "{") else { throw d.typeError("data", expected: "an object") }
        try decodeData(&d, into: &e)
        d.skipWhitespace()
        guard d.pos == d.end else { throw d.fail("unexpected bytes after data") }
        try checkTimes(e)
        return e
    }

    @inline(__always)
    private func checkEnvelope(_ e: inout DecodedEvent, type: UnsafeRawBufferPointer, time: UnsafeRawBufferPointer) throws(DecodeFailure) {
        guard let t = EventType.from(type) else { throw .unknownType }
        e.type = t
        guard e.id.count > 0 else { throw .invalid("id", "must not be empty") }
        guard e.id.count <= 1024 else { throw .invalid("id", "is longer than 1024 bytes") }
        guard e.source.count > 0 else { throw .invalid("source", "must not be empty") }
        guard e.source.count <= 1024 else { throw .invalid("source", "is longer than 1024 bytes") }
        guard e.subject.count > 0 else { throw .invalid("subject", "must not be empty") }
        guard e.subject.count <= 512, UTF8Check.scalarCount(e.subject) <= 128 else {
            throw .invalid("subject", "is longer than 128 characters")
        }
        guard let nanos = EventTime.parse(time) else { throw .invalid("time", "is not an RFC 3339 time") }
        e.time = nanos
        // Raw control bytes never reach a string view (the scanner refuses them); only a decoded
        // escape such as `\u0000` can put one there, in the scratch buffer.
        if isScratch(e.id) || isScratch(e.source) || isScratch(e.subject) {
            try Self.refuseControlCharacters(id: e.id, source: e.source, subject: e.subject)
        }
    }

    @inline(__always)
    private func isScratch(_ v: UnsafeRawBufferPointer) -> Bool {
        guard let p = v.baseAddress else { return false }
        let start = UnsafeRawPointer(scratch)
        return p >= start && p < start + (Self.maxRecordBytes + 64)
    }

    /// Identifiers — `id`, `source`, `subject` — may not contain control characters
    /// (U+0000–U+001F), escaped or not: they name accounts and land in ids, headers and logs
    /// (bad input, contract §7).
    static func refuseControlCharacters(id: UnsafeRawBufferPointer, source: UnsafeRawBufferPointer,
                                        subject: UnsafeRawBufferPointer) throws(DecodeFailure) {
        if id.contains(where: { $0 < 0x20 }) { throw .invalid("id", "must not contain control characters") }
        if source.contains(where: { $0 < 0x20 }) { throw .invalid("source", "must not contain control characters") }
        if subject.contains(where: { $0 < 0x20 }) { throw .invalid("subject", "must not contain control characters") }
    }

    /// Rules that relate data fields to the event's time or envelope (known only once all are read).
    @inline(__always)
    private func checkTimes(_ e: DecodedEvent) throws(DecodeFailure) {
        if e.type == .grantIssued, let x = e.expiresAt, x <= e.time {
            throw .invalid("data.expires_at", "must be after the event's time")
        }
        // A hold must be able to expire by the owner's record (§15), whose id
        // `<account>/<hold_id>/expired/<expires_at>` must fit the 1,024 bytes of an id.
        if e.type == .holdRequested, let h = e.holdID, e.subject.count + h.count + Self.holdExpiryIDOverhead > 1024 {
            throw .invalid("data.hold_id", "is too long for this account: with the account id it must leave room for the hold's expiry id (1024 bytes)")
        }
    }

    /// "/" + "/expired/" + the longest RFC 3339 time CreditMeter writes (nanoseconds).
    public static let holdExpiryIDOverhead = 1 + 9 + 30
}
