/// The `data` object of each event type (contract §2, §12, §16): its fields, their types and
/// ranges, and the fields each type requires. A new event type's fields go here.
extension EventDecoder {
    /// `data` member bits, to refuse duplicate keys (see `Seen.mark`).
    struct SeenFields {
        var bits: UInt32 = 0
        @inline(__always)
        mutating func mark(_ bit: UInt32, _ name: StaticString) throws(DecodeFailure) {
            if bits & bit != 0 { throw .duplicateKey(name) }
            bits |= bit
        }
    }

    func decodeData(_ s: inout JSONScanner, into e: inout DecodedEvent) throws(DecodeFailure) {
        try s.expect(UInt8(ascii: "{"), "expected '{'")
        var seen = SeenFields()
        var sawVersion = false
        if s.peek() == UInt8(ascii: "}") {
            s.pos += 1
        } else {
            repeat {
                let key = try s.readString()
                try s.expect(UInt8(ascii: ":"), "expected ':'")
                switch e.type {
                case .usage:
                    try usageField(key, &s, &e, &seen)
                case .planAssigned:
                    if key.equals("plan") { try seen.mark(1, "data.plan"); e.plan = try optionalString(&s, "data.plan") }
                    else if key.equals("monthly_credits") { try seen.mark(2, "data.monthly_credits"); e.monthlyCredits = try optionalCredits(&s, "data.monthly_credits", allowNegative: false) }
                    else if key.equals("cycle_anchor") { try seen.mark(4, "data.cycle_anchor"); e.cycleAnchor = try optionalTime(&s, "data.cycle_anchor") }
                    else if key.equals("rollover_max_credits") {
                        try seen.mark(8, "data.rollover_max_credits")
                        e.rolloverMaxCredits = try optionalCredits(&s, "data.rollover_max_credits", allowNegative: false)
                    }
                    else { try s.skipValue() }
                case .topupPurchased:
                    if key.equals("pack") { try seen.mark(1, "data.pack"); e.pack = try optionalString(&s, "data.pack") }
                    else if key.equals("credits") { try seen.mark(2, "data.credits"); e.credits = try optionalCredits(&s, "data.credits", allowNegative: false) }
                    else if key.equals("ref") { try seen.mark(4, "data.ref"); e.ref = try optionalString(&s, "data.ref") }
                    else { try s.skipValue() }
                case .grantVoided:
                    if key.equals("grant_id") { try seen.mark(1, "data.grant_id"); e.grantID = try optionalString(&s, "data.grant_id") }
                    else if key.equals("grant_source") { try seen.mark(2, "data.grant_source"); e.grantSource = try optionalString(&s, "data.grant_source") }
                    else if key.equals("reason") { try seen.mark(4, "data.reason"); e.reason = try optionalString(&s, "data.reason") }
                    else { try s.skipValue() }
                case .autoTopupConfigured:
                    if key.equals("pack") { try seen.mark(1, "data.pack"); e.pack = try optionalString(&s, "data.pack") }
                    else if key.equals("credits") { try seen.mark(2, "data.credits"); e.credits = try optionalCredits(&s, "data.credits", allowNegative: false) }
                    else if key.equals("below_credits") {
                        try seen.mark(4, "data.below_credits")
                        e.belowCredits = try optionalCredits(&s, "data.below_credits", allowNegative: false)
                    } else if key.equals("max_per_cycle") {
                        try seen.mark(8, "data.max_per_cycle")
                        if !s.readNull() {
                            // Plain digits only (§7 v2: `2.0` and `2e0` are not integers).
                            guard let c = s.peek(), c == UInt8(ascii: "-") || (c >= 48 && c <= 57) else {
                                throw s.typeError("data.max_per_cycle", expected: "an integer ≥ 1")
                            }
                            let text = try s.readNumberText()
                            guard text.allSatisfy({ $0 >= 48 && $0 <= 57 }), text.count <= 18,
                                  let n = Int64(String(decoding: text, as: UTF8.self)), n >= 1 else {
                                throw .wrongType("data.max_per_cycle", expected: "an integer ≥ 1")
                            }
                            guard n <= 1_000_000 else { throw .invalid("data.max_per_cycle", "is absurdly large (limit 1000000)") }
                            e.maxPerCycle = n
                        }
                    } else if key.equals("enabled") {
                        try seen.mark(16, "data.enabled")
                        if s.readLiteral("true") { e.enabled = true }
                        else if s.readLiteral("false") { e.enabled = false }
                        else if !s.readNull() { throw s.typeError("data.enabled", expected: "true or false") }
                    } else { try s.skipValue() }
                case .memberBudgetSet:
                    if key.equals("member") { try seen.mark(1, "data.member"); e.member = try optionalString(&s, "data.member") }
                    else if key.equals("monthly_credits") {
                        try seen.mark(2, "data.monthly_credits")
                        e.monthlyCredits = try optionalCredits(&s, "data.monthly_credits", allowNegative: true)
                    } else { try s.skipValue() }
                case .grantIssued:
                    if key.equals("credits") { try seen.mark(1, "data.credits"); e.credits = try optionalCredits(&s, "data.credits", allowNegative: false) }
                    else if key.equals("expires_at") { try seen.mark(2, "data.expires_at"); e.expiresAt = try optionalTime(&s, "data.expires_at") }
                    else if key.equals("reason") { try seen.mark(4, "data.reason"); e.reason = try optionalString(&s, "data.reason") }
                    else { try s.skipValue() }
                case .adjusted:
                    if key.equals("credits") { try seen.mark(1, "data.credits"); e.credits = try optionalCredits(&s, "data.credits", allowNegative: true) }
                    else if key.equals("reason") { try seen.mark(2, "data.reason"); e.reason = try optionalString(&s, "data.reason") }
                    else if key.equals("ref") { try seen.mark(4, "data.ref"); e.ref = try optionalString(&s, "data.ref") }
                    else { try s.skipValue() }
                case .alertsConfigured:
                    if key.equals("thresholds_percent") {
                        try seen.mark(1, "data.thresholds_percent")
                        e.thresholdsPercent = try thresholdList(&s, "data.thresholds_percent")
                    } else { try s.skipValue() }
                case .holdRequested, .holdExtended, .holdReleased, .holdExpired:
                    try holdField(key, &s, &e, &seen)
                case .rateCardPinned:
                    if key.equals("version") { try seen.mark(1, "data.version"); sawVersion = true; e.version = try optionalString(&s, "data.version") }
                    else if key.equals("until") { try seen.mark(2, "data.until"); e.until = try optionalTime(&s, "data.until") }
                    else { try s.skipValue() }
                }
            } while try s.nextMember()
        }
        // Required fields and cross-field rules per type.
        switch e.type {
        case .usage:
            guard e.action != nil else { throw .missing("data.action") }
        case .planAssigned:
            guard e.plan != nil || e.monthlyCredits != nil else { throw .missing("data.plan") }
        case .topupPurchased:
            guard e.pack != nil || e.credits != nil else { throw .missing("data.pack") }
            if let c = e.credits, c <= 0 { throw .invalid("data.credits", "must be greater than 0") }
        case .grantIssued:
            guard let c = e.credits else { throw .missing("data.credits") }
            guard c > 0 else { throw .invalid("data.credits", "must be greater than 0") }
        case .adjusted:
            guard e.credits != nil else { throw .missing("data.credits") }
        case .rateCardPinned:
            guard sawVersion else { throw .missing("data.version") }
        case .grantVoided:
            guard let id = e.grantID else { throw .missing("data.grant_id") }
            guard id.count > 0 else { throw .invalid("data.grant_id", "must not be empty") }
            if let source = e.grantSource, source.count == 0 { throw .invalid("data.grant_source", "must not be empty") }
        case .autoTopupConfigured:
            if e.enabled {
                guard e.pack != nil || e.credits != nil else { throw .missing("data.pack") }
                if let c = e.credits, c <= 0 { throw .invalid("data.credits", "must be greater than 0") }
                guard e.belowCredits != nil else { throw .missing("data.below_credits") }
            }
        case .memberBudgetSet:
            guard let m = e.member else { throw .missing("data.member") }
            guard m.count > 0, m.count <= 512, UTF8Check.scalarCount(m) <= 128 else {
                throw .invalid("data.member", "must be 1 to 128 characters")
            }
            guard !m.contains(UInt8(ascii: "/")) else { throw .invalid("data.member", "must not contain '/'") }
            guard seen.bits & 2 != 0 else { throw .missing("data.monthly_credits") }
            if let c = e.monthlyCredits, c <= 0 { throw .invalid("data.monthly_credits", "must be greater than 0 (or null to remove)") }
        case .alertsConfigured:
            guard seen.bits & 1 != 0 else { throw .missing("data.thresholds_percent") }
        case .holdRequested:
            try checkHoldID(e)
            if e.credits != nil && e.action != nil { throw .invalid("data.credits", "and data.action are exclusive: give one of them") }
            if let c = e.credits {
                guard c > 0 else { throw .invalid("data.credits", "must be greater than 0") }
                if seen.bits & Self.multiplierBit != 0 { throw .invalid("data.multiplier", "applies to data.action only") }
            } else if e.action == nil {
                throw .missing("data.credits")
            }
            if let m = e.member { try Self.checkLabel(m, "data.member", slash: true) }
            if let w = e.workflow { try Self.checkLabel(w, "data.workflow", slash: false) }
        case .holdExtended:
            try checkHoldID(e)
            guard e.ttlSeconds != nil else { throw .missing("data.ttl_seconds") }
        case .holdReleased:
            try checkHoldID(e)
        case .holdExpired:
            try checkHoldID(e)
            guard e.expiresAt != nil else { throw .missing("data.expires_at") }
        }
    }

    static let multiplierBit: UInt32 = 1 << 12

    private func checkHoldID(_ e: DecodedEvent) throws(DecodeFailure) {
        guard let h = e.holdID else { throw .missing("data.hold_id") }
        try Self.checkLabel(h, "data.hold_id", slash: true)
    }

    /// A hold id, member or workflow label (§15): 1 to 128 characters, no control characters
    /// (a hold id goes into the id of its expiry record, where they are refused); ids and
    /// members also without `/` (they appear in paths and alert ids).
    static func checkLabel(_ v: UnsafeRawBufferPointer, _ field: StaticString, slash: Bool) throws(DecodeFailure) {
        guard v.count > 0, v.count <= 512, UTF8Check.scalarCount(v) <= 128 else { throw .invalid(field, "must be 1 to 128 characters") }
        guard !v.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { throw .invalid(field, "must not contain control characters") }
        if slash { guard !v.contains(UInt8(ascii: "/")) else { throw .invalid(field, "must not contain '/'") } }
    }

    /// The `data` fields of the four hold types (§15). A request's action fields are those of
    /// `ai.usage` (priced as by /check); the rest are the hold's own.
    private func holdField(_ key: UnsafeRawBufferPointer, _ s: inout JSONScanner, _ e: inout DecodedEvent,
                           _ seen: inout SeenFields) throws(DecodeFailure) {
        if key.equals("hold_id") {
            try seen.mark(1 << 9, "data.hold_id")
            guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError("data.hold_id", expected: "a string") }
            e.holdID = try s.readString()
        } else if key.equals("ttl_seconds") && (e.type == .holdRequested || e.type == .holdExtended) {
            try seen.mark(1 << 10, "data.ttl_seconds")
            if !s.readNull() {
                guard let v = try integer(&s, "data.ttl_seconds", expected: "an integer from 1 to 604800"), v >= 1, v <= 604_800 else {
                    throw .invalid("data.ttl_seconds", "must be an integer from 1 to 604800")
                }
                e.ttlSeconds = v
            }
        } else if e.type == .holdRequested && key.equals("credits") {
            try seen.mark(1 << 11, "data.credits"); e.credits = try optionalCredits(&s, "data.credits", allowNegative: false)
        } else if e.type == .holdRequested && key.equals("multiplier") {
            try seen.mark(Self.multiplierBit, "data.multiplier")
            if !s.readNull() {
                guard let v = try integer(&s, "data.multiplier", expected: "an integer ≥ 1"), v >= 1 else {
                    throw .wrongType("data.multiplier", expected: "an integer ≥ 1")
                }
                guard v <= Self.maxQuantity else { throw .invalid("data.multiplier", "is absurdly large (limit 1000000000)") }
                e.multiplier = v
            }
        } else if e.type == .holdRequested && key.equals("workflow") {
            try seen.mark(1 << 13, "data.workflow"); e.workflow = try optionalString(&s, "data.workflow")
        } else if e.type == .holdRequested && !key.equals("capability") && !key.equals("cost_usd") {
            try usageField(key, &s, &e, &seen)
        } else if e.type == .holdExpired && key.equals("expires_at") {
            try seen.mark(1 << 14, "data.expires_at"); e.expiresAt = try optionalTime(&s, "data.expires_at")
        } else {
            try s.skipValue()
        }
    }

    /// `thresholds_percent` (§16): null (empty: back to the configured default), or an array of
    /// 1 to 5 distinct integers from 1 to 99 written as plain digits (§7 v2: `20.0`, `2e1` are
    /// not integers). Elements are read in place; nothing is allocated.
    private func thresholdList(_ s: inout JSONScanner, _ field: StaticString) throws(DecodeFailure) -> ThresholdList {
        var list = ThresholdList()
        if s.readNull() { return list }
        let expected: StaticString = "an array of 1 to 5 distinct integers from 1 to 99, or null"
        guard s.peek() == UInt8(ascii: "[") else { throw s.typeError(field, expected: expected) }
        s.pos += 1
        if s.peek() == UInt8(ascii: "]") {
            s.pos += 1
            throw .invalid(field, "must hold 1 to 5 thresholds (null returns to the configured default)")
        }
        repeat {
            guard let v = try integer(&s, field, expected: expected) else { throw .wrongType(field, expected: expected) }
            guard v >= 1 && v <= 99 else { throw .invalid(field, "must hold integers from 1 to 99") }
            guard !list.contains(v) else { throw .invalid(field, "must not repeat a threshold") }
            guard list.count < ThresholdList.capacity else {
                throw .invalid(field, "must hold 1 to 5 thresholds (null returns to the configured default)")
            }
            list.append(v)
        } while try s.nextElement()
        return list
    }

    @inline(__always)
    private func usageField(_ key: UnsafeRawBufferPointer, _ s: inout JSONScanner, _ e: inout DecodedEvent,
                            _ seen: inout SeenFields) throws(DecodeFailure) {
        switch key.count {
        case 5 where key.equals("model"):
            try seen.mark(1, "data.model"); e.model = try optionalString(&s, "data.model")
        case 6 where key.equals("action"):
            try seen.mark(2, "data.action")
            guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError("data.action", expected: "a string") }
            e.action = try s.readString()
        case 6 where key.equals("member"):
            try seen.mark(4, "data.member"); e.member = try optionalString(&s, "data.member")
        case 8 where key.equals("quantity"):
            try seen.mark(8, "data.quantity")
            if !s.readNull() {
                guard let q = try integer(&s, "data.quantity", expected: "an integer ≥ 1"), q >= 1 else {
                    throw .wrongType("data.quantity", expected: "an integer ≥ 1")
                }
                guard q <= Self.maxQuantity else { throw .invalid("data.quantity", "is absurdly large (limit 1000000000)") }
                e.quantity = q
            }
        case 8 where key.equals("cost_usd"):
            try seen.mark(16, "data.cost_usd")
            if !s.readNull() {
                guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError("data.cost_usd", expected: "a decimal string") }
                let text = try s.readString()
                guard let d = ExactDecimal.parse(text), !d.negative else {
                    throw .wrongType("data.cost_usd", expected: "a non-negative decimal string")
                }
                guard let nanos = d.scaled(by: 9) else { throw .invalid("data.cost_usd", "has more than 9 fraction digits or is too large") }
                guard nanos <= Self.maxCostNanoUSD else { throw .invalid("data.cost_usd", "is absurdly large") }
                e.costNanoUSD = nanos
            }
        case 7 where key.equals("hold_id"):
            // Never bad input on usage (§15: the work happened): a string names a hold — one the
            // account does not have is charged as unheld —, anything else names none.
            try seen.mark(1 << 9, "data.hold_id")
            if s.peek() == UInt8(ascii: "\"") { e.holdID = try s.readString() } else { try s.skipValue() }
        case 10 where key.equals("capability"):
            try seen.mark(32, "data.capability"); e.capability = try optionalString(&s, "data.capability")
        case 10 where key.equals("tool_calls"):
            try seen.mark(64, "data.tool_calls")
            e.toolCalls = try count(&s, "data.tool_calls", limit: Self.maxToolCalls)
        case 12 where key.equals("input_tokens"):
            try seen.mark(128, "data.input_tokens")
            e.inputTokens = try count(&s, "data.input_tokens", limit: Self.maxTokens)
        case 13 where key.equals("output_tokens"):
            try seen.mark(256, "data.output_tokens")
            e.outputTokens = try count(&s, "data.output_tokens", limit: Self.maxTokens)
        default:
            try s.skipValue()
        }
    }

    @inline(__always)
    private func integer(_ s: inout JSONScanner, _ field: StaticString, expected: StaticString) throws(DecodeFailure) -> Int64? {
        guard let c = s.peek(), c == UInt8(ascii: "-") || (c >= 48 && c <= 57) else { throw s.typeError(field, expected: expected) }
        return try s.readInteger()
    }

    @inline(__always)
    private func count(_ s: inout JSONScanner, _ field: StaticString, limit: Int64) throws(DecodeFailure) -> Int64 {
        if s.readNull() { return 0 }
        guard let v = try integer(&s, field, expected: "an integer ≥ 0"), v >= 0 else {
            throw .wrongType(field, expected: "an integer ≥ 0")
        }
        guard v <= limit else { throw .invalid(field, "is absurdly large") }
        return v
    }

    @inline(__always)
    private func optionalString(_ s: inout JSONScanner, _ field: StaticString) throws(DecodeFailure) -> UnsafeRawBufferPointer? {
        if s.readNull() { return nil }
        guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError(field, expected: "a string") }
        let v = try s.readString()
        guard v.count <= 1024 else { throw .invalid(field, "is longer than 1024 bytes") }
        return v
    }

    @inline(__always)
    private func optionalTime(_ s: inout JSONScanner, _ field: StaticString) throws(DecodeFailure) -> Int64? {
        if s.readNull() { return nil }
        guard s.peek() == UInt8(ascii: "\"") else { throw s.typeError(field, expected: "an RFC 3339 string") }
        guard let t = EventTime.parse(try s.readString()) else { throw .invalid(field, "is not an RFC 3339 time") }
        return t
    }

    /// Credits on the wire: a JSON number with at most 3 fraction digits → millicredits.
    private func optionalCredits(_ s: inout JSONScanner, _ field: StaticString, allowNegative: Bool) throws(DecodeFailure) -> Int64? {
        if s.readNull() { return nil }
        guard let c = s.peek(), c == UInt8(ascii: "-") || (c >= 48 && c <= 57) else {
            throw s.typeError(field, expected: "a number")
        }
        let text = try s.readNumberText()
        guard let d = ExactDecimal.parse(text) else {
            // Valid JSON beyond exact range (`1e99999999`, 25 significant digits) vs. not a number at all.
            guard JSONScanner.isValidNumberGrammar(text) else { throw s.fail("invalid number") }
            throw .invalid(field, "has more than 3 fraction digits or is too large")
        }
        if d.negative && !allowNegative { throw .invalid(field, "must not be negative") }
        guard let mc = d.scaled(by: Credits.scale) else { throw .invalid(field, "has more than 3 fraction digits or is too large") }
        guard mc.magnitude <= UInt64(Credits.maxAbsolute) else { throw .invalid(field, "is absurdly large (limit 10^12 credits)") }
        return mc
    }
}
