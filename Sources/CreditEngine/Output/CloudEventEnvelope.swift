/// The CloudEvents 1.0 envelope of every event CreditMeter writes — alerts (§6), auto top-up
/// requests (§12), hold expiries (§15), replay's adjustments: structured mode, JSON, the
/// attributes in this order, then the `data` object. Written here once, so every output has
/// the same shape.
public struct CloudEventEnvelope: Sendable {
    /// The `source` of the events the service itself produces (alerts, requests, hold expiries).
    public static let meterSource = "credit-meter"

    public var id: String
    public var source: String
    public var type: String
    public var subject: String
    /// The triggering event's time (UTC nanoseconds).
    public var time: Int64

    public init(id: String, source: String, type: String, subject: String, time: Int64) {
        self.id = id
        self.source = source
        self.type = type
        self.subject = subject
        self.time = time
    }

    /// The event's bytes; `data` writes the members of the `data` object.
    public func json(data: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("specversion"); w.string("1.0")
        w.key("id"); w.string(id)
        w.key("source"); w.string(source)
        w.key("type"); w.string(type)
        w.key("subject"); w.string(subject)
        w.key("time"); w.time(time)
        w.key("datacontenttype"); w.string("application/json")
        w.key("data"); w.beginObject()
        data(&w)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// The event's bytes with `data` given as JSON text, written verbatim: the caller has
    /// checked that it is one JSON object (a hold request's body, §15).
    public func json(rawData: some Collection<UInt8>) -> [UInt8] {
        var out = json { _ in }
        out.removeLast(3)  // the empty `{}` of data and the envelope's `}`
        out.append(contentsOf: rawData)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
