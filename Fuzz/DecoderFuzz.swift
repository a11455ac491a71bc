/// libFuzzer target: differential fuzzing of the zero-copy `EventDecoder` against the plain
/// reference parser in `ReferenceJSON.swift` (built with `-sanitize=fuzzer,address`, the
/// engine's sources compiled into the same binary; see scripts/fuzz.sh).
///
/// Properties checked on every input (any violation aborts, so libFuzzer saves the input):
///  1. no crash, no out-of-bounds access (address sanitizer), no unbounded recursion;
///  2. JSON validity: if the reference refuses the bytes as JSON, the decoder refuses the
///     record; if the decoder says "malformed JSON", the reference refuses it too;
///  3. soundness: a record the decoder accepts is, per the reference, an object with each
///     CloudEvents attribute once and the same decoded `id`, `source`, `subject`, `type`,
///     `time`; for `ai.usage` the reference's own reading of contract §2/§7 accepts it and
///     every data field is equal;
///  4. completeness: an `ai.usage` record the reference reading accepts, the decoder accepts.

nonisolated(unsafe) let decoder = EventDecoder()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    checkDecoder(raw)
    return 0
}

func disagree(_ what: String, _ input: UnsafeRawBufferPointer) -> Never {
    var shown = ""
    for b in input.prefix(2000) {
        if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\\") { shown.unicodeScalars.append(Unicode.Scalar(b)) }
        else { shown += "\\x" + String(b, radix: 16) }
    }
    print("DISAGREEMENT: \(what)\ninput (\(input.count) bytes): \(shown)")
    fatalError("decoder and reference disagree: \(what)")
}

func checkDecoder(_ raw: UnsafeRawBufferPointer) {
    let bytes = Array(raw)
    let tree: RefJSON?
    do throws(RefJSON.ParseError) { tree = try RefJSON.parse(bytes) } catch { tree = nil }
    let verdict = tree.map(RefEvent.judge)

    let event: DecodedEvent
    do throws(DecodeFailure) {
        event = try decoder.decode(raw)
    } catch {
        if case .malformedJSON = error, tree != nil { disagree("decoder says \(error), reference parses the JSON", raw) }
        if case .valid(let ref)? = verdict, raw.count <= EventDecoder.maxRecordBytes {
            disagree("decoder refuses (\(error)), reference accepts usage event \(ref)", raw)
        }
        return
    }
    guard let verdict else { disagree("decoder accepts, reference refuses the JSON", raw) }
    func b(_ v: UnsafeRawBufferPointer?) -> [UInt8]? { v.map { Array($0) } }
    switch verdict {
    case .invalid(let why):
        disagree("decoder accepts, reference reading refuses: \(why)", raw)
    case .envelopeOnly(let env):
        guard env.id == b(event.id), env.source == b(event.source), env.subject == b(event.subject),
              env.type == Array(event.type.name.utf8), env.time == event.time else {
            disagree("envelope differs: reference \(env)", raw)
        }
    case .valid(let ref):
        guard event.type == .usage, ref.env.id == b(event.id), ref.env.source == b(event.source),
              ref.env.subject == b(event.subject), ref.env.time == event.time,
              ref.action == b(event.action), ref.model == b(event.model),
              ref.capability == b(event.capability), ref.member == b(event.member),
              ref.quantity == event.quantity, ref.inputTokens == event.inputTokens,
              ref.outputTokens == event.outputTokens, ref.toolCalls == event.toolCalls,
              ref.costNanoUSD == event.costNanoUSD, ref.holdID == b(event.holdID) else {
            disagree("fields differ: reference \(ref)", raw)
        }
    }
}

/// The reference's own reading of a CloudEvent (contract §2, §7 with v2), from the parsed tree.
struct RefEvent: CustomStringConvertible {
    struct Envelope: CustomStringConvertible {
        var id: [UInt8] = [], source: [UInt8] = [], subject: [UInt8] = [], type: [UInt8] = []
        var time: Int64 = 0
        var description: String { "id=\(id) source=\(source) subject=\(subject) type=\(type) time=\(time)" }
    }
    var env = Envelope()
    var action: [UInt8]?
    var model: [UInt8]?, capability: [UInt8]?, member: [UInt8]?, holdID: [UInt8]?
    var quantity: Int64 = 1, inputTokens: Int64 = 0, outputTokens: Int64 = 0, toolCalls: Int64 = 0
    var costNanoUSD: Int64 = 0
    var description: String { "\(env) action=\(action ?? []) q=\(quantity) in=\(inputTokens) out=\(outputTokens) tools=\(toolCalls) cost=\(costNanoUSD)" }

    enum Verdict {
        case valid(RefEvent)
        /// A known non-usage type with a valid envelope: only the envelope is compared.
        case envelopeOnly(Envelope)
        case invalid(String)
    }

    /// Every other event type the contract names: the reference checks their envelope only.
    static let otherTypes: [[UInt8]] = ["credit.plan.assigned", "credit.topup.purchased", "credit.grant.issued",
                                        "credit.adjusted", "credit.ratecard.pinned", "credit.grant.voided",
                                        "credit.autotopup.configured", "credit.member.budget.set",
                                        "credit.alerts.configured", "credit.hold.requested", "credit.hold.extended",
                                        "credit.hold.released", "credit.hold.expired"].map { Array($0.utf8) }

    static func judge(_ tree: RefJSON) -> Verdict {
        guard case .object(let members) = tree else { return .invalid("not an object") }
        func one(_ name: String) -> (count: Int, value: RefJSON?) {
            let k = Array(name.utf8)
            let found = members.filter { $0.key == k }
            return (found.count, found.first?.value)
        }
        var env = Envelope()
        for name in ["specversion", "id", "source", "type", "subject", "time", "data"] {
            let (count, _) = one(name)
            if count > 1 { return .invalid("duplicate \(name)") }
            if count == 0 { return .invalid("missing \(name)") }
        }
        guard case .string(let spec)? = one("specversion").value, spec == Array("1.0".utf8) else { return .invalid("specversion") }
        guard case .string(let id)? = one("id").value, case .string(let source)? = one("source").value,
              case .string(let type)? = one("type").value, case .string(let subject)? = one("subject").value,
              case .string(let time)? = one("time").value else { return .invalid("attribute types") }
        guard case .object(let data)? = one("data").value else { return .invalid("data not an object") }
        guard !id.isEmpty, id.count <= 1024, !id.contains(where: { $0 < 0x20 }) else { return .invalid("id") }
        guard !source.isEmpty, source.count <= 1024, !source.contains(where: { $0 < 0x20 }) else { return .invalid("source") }
        let scalars = String(decoding: subject, as: UTF8.self).unicodeScalars.count
        guard !subject.isEmpty, scalars <= 128, !subject.contains(where: { $0 < 0x20 }) else { return .invalid("subject") }
        guard let t = time.withUnsafeBytes({ EventTime.parse($0) }) else { return .invalid("time") }
        env.id = id; env.source = source; env.subject = subject; env.type = type; env.time = t
        if otherTypes.contains(type) { return .envelopeOnly(env) }
        guard type == Array("ai.usage".utf8) else { return .invalid("unknown type") }

        var e = RefEvent()
        e.env = env
        var seen: Set<[UInt8]> = []
        let known: Set<[UInt8]> = Set(["action", "model", "capability", "member", "quantity", "input_tokens",
                                       "output_tokens", "tool_calls", "cost_usd", "hold_id"].map { Array($0.utf8) })
        for (key, value) in data where known.contains(key) {
            guard seen.insert(key).inserted else { return .invalid("duplicate data key") }
            let name = String(decoding: key, as: UTF8.self)
            switch name {
            case "action":
                guard case .string(let s) = value else { return .invalid("action") }
                e.action = s
            case "model", "capability", "member":
                var v: [UInt8]? = nil
                switch value {
                case .null: break
                case .string(let s): guard s.count <= 1024 else { return .invalid("\(name) too long") }; v = s
                default: return .invalid(name)
                }
                if name == "model" { e.model = v } else if name == "capability" { e.capability = v } else { e.member = v }
            case "hold_id":
                // §15: never bad input on usage; a string names a hold, anything else none.
                if case .string(let s) = value { e.holdID = s }
            case "quantity":
                if case .null = value { continue }
                guard let q = plainInteger(value), q >= 1, q <= 1_000_000_000 else { return .invalid("quantity") }
                e.quantity = q
            case "input_tokens", "output_tokens", "tool_calls":
                if case .null = value { continue }
                let limit: Int64 = name == "tool_calls" ? 1_000_000_000 : 1_000_000_000_000
                guard let n = plainInteger(value), n >= 0, n <= limit else { return .invalid(name) }
                if name == "input_tokens" { e.inputTokens = n } else if name == "output_tokens" { e.outputTokens = n } else { e.toolCalls = n }
            case "cost_usd":
                if case .null = value { continue }
                guard case .string(let s) = value,
                      let d = s.withUnsafeBytes({ ExactDecimal.parse($0) }), !d.negative,
                      let nanos = d.scaled(by: 9), nanos <= 1_000_000_000 * 1_000_000_000 else { return .invalid("cost_usd") }
                e.costNanoUSD = nanos
            default:
                break
            }
        }
        guard e.action != nil else { return .invalid("missing action") }
        return .valid(e)
    }

    /// `-?(0|[1-9][0-9]*)`, not `-0`, saturating at ±Int64.max (callers compare with limits).
    static func plainInteger(_ v: RefJSON) -> Int64? {
        guard case .number(let text) = v else { return nil }
        var digits = text[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        if negative && digits.allSatisfy({ $0 == 0x30 }) { return nil }
        var value: Int64 = 0
        for d in digits {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int64(d - 0x30))
            if o1 || o2 { value = .max; break }
            value = s
        }
        return negative ? -value : value
    }
}
