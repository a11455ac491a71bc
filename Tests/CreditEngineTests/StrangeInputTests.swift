import Foundation
import Testing
import CreditEngine

/// Contract §7 as extended in v2: each strange record either goes to the dead-letter topic
/// with a named reason and changes nothing, or (where the contract says it is valid) is
/// applied normally.
@Suite struct StrangeInputTests {
    static let time = "2026-11-21T10:00:00Z"

    /// A ledger where `acct-A` already has a plan, so a charge shows in its balance.
    final class Harness {
        let ledger: PartitionLedger
        let decoder = EventDecoder()

        init() throws {
            ledger = PartitionLedger(config: try Fixtures.engine())
            let plan = EventJSON.event("credit.plan.assigned", account: "acct-A", id: "p0", time: StrangeInputTests.time,
                                       data: [("plan", .s("pro"))])
            #expect(try apply(Array(plan.utf8), key: Array("acct-A".utf8)) == nil)
        }

        /// Decodes and applies one record; nil when applied, else the dead-letter reason.
        func apply(_ value: [UInt8], key: [UInt8]?) throws -> String? {
            value.withUnsafeBytes { v -> String? in
                let event: DecodedEvent
                do throws(DecodeFailure) { event = try decoder.decode(v) } catch { return error.description }
                let result: ApplyResult
                if let key {
                    result = key.withUnsafeBytes { ledger.apply(event, key: $0, recordTime: nil) }
                } else {
                    result = ledger.apply(event, key: nil, recordTime: nil)
                }
                switch result.outcome {
                case .applied: return nil
                case .duplicate: return "duplicate"
                case .rejected(let r): return r.description
                }
            }
        }

        func state() -> [String] {
            (0..<ledger.accountCount).map { String(decoding: ledger.accountDocument($0), as: UTF8.self) }
        }

        /// Asserts the record is dead-lettered with a reason containing `reason`, and nothing changed.
        func expectDeadLettered(_ value: [UInt8], key: [UInt8]?, _ reason: String,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
            let before = state()
            let got = try apply(value, key: key)
            #expect(got != nil, "expected a dead letter (\(reason)), was applied", sourceLocation: sourceLocation)
            if let got { #expect(got.contains(reason), "reason was: \(got)", sourceLocation: sourceLocation) }
            #expect(state() == before, "a refused record changed the ledger", sourceLocation: sourceLocation)
        }

        func expectDeadLettered(_ json: String, key: String? = "acct-A", _ reason: String,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
            try expectDeadLettered(Array(json.utf8), key: key.map { Array($0.utf8) }, reason, sourceLocation: sourceLocation)
        }

        func expectApplied(_ json: String, key: String = "acct-A", sourceLocation: SourceLocation = #_sourceLocation) throws {
            let got = try apply(Array(json.utf8), key: Array(key.utf8))
            #expect(got == nil, "refused: \(got ?? "")", sourceLocation: sourceLocation)
        }

        func balance(_ account: String) -> Int64? { ledger.account(account)?.balance }
    }

    /// A usage event for `acct-A` with raw (unescaped, as-is) JSON pieces spliced in.
    static func usage(subject: String = #""acct-A""#, id: String? = nil, data: String = #""action":"chat""#,
                      extra: String = "") -> String {
        #"{"specversion":"1.0","id":\#(id ?? "\"u-\(UInt64.random(in: 0...UInt64.max))\""),"source":"test","type":"ai.usage","subject":\#(subject),"time":"\#(time)",\#(extra)"data":{\#(data)}}"#
    }

    // MARK: size

    @Test func recordsJustUnderAndOverOneMiB() throws {
        let h = try Harness()
        let skeleton = Self.usage(id: #""big""#, extra: #""pad":"","#)
        let fill = EventDecoder.maxRecordBytes - skeleton.utf8.count
        let exact = Self.usage(id: #""big""#, extra: #""pad":"\#(String(repeating: "x", count: fill))","#)
        #expect(exact.utf8.count == EventDecoder.maxRecordBytes)
        let before = h.balance("acct-A")!
        try h.expectApplied(exact)
        #expect(h.balance("acct-A")! == before - 1000)  // chat costs 1 credit
        let over = Self.usage(id: #""big""#, extra: #""pad":"\#(String(repeating: "x", count: fill + 1))","#)
        try h.expectDeadLettered(over, "record too large: 1048577 bytes (limit 1048576)")
    }

    // MARK: keys and values

    @Test func tombstonesAndEmptyValuesAreDeadLettered() throws {
        let h = try Harness()
        try h.expectDeadLettered([], key: Array("acct-A".utf8), "empty record value (a tombstone or zero bytes)")
        try h.expectDeadLettered([], key: nil, "empty record value")
    }

    @Test func recordsWithNoKeyAreDeadLettered() throws {
        let h = try Harness()
        try h.expectDeadLettered(Self.usage(), key: nil, "record has no key")
        try h.expectDeadLettered(Self.usage(), key: "", "record key differs from the event's subject")
    }

    @Test func escapedSubjectEqualToTheKeyIsThatAccount() throws {
        let h = try Harness()
        let before = h.balance("acct-A")!
        try h.expectApplied(Self.usage(subject: #""acct-\u0041""#))
        try h.expectApplied(Self.usage(subject: #""\u0061\u0063\u0063\u0074\u002d\u0041""#))
        #expect(h.balance("acct-A")! == before - 2000)
        #expect(h.ledger.accountCount == 1)
        // The key is raw bytes: a key that spells the escape is a different account id.
        try h.expectDeadLettered(Self.usage(subject: #""acct-\u0041""#), key: #"acct-\u0041"#, "record key differs")
    }

    // MARK: subject length

    @Test func subjectsOf128AreValidAnd129AreNot() throws {
        let h = try Harness()
        let a128 = String(repeating: "a", count: 128)
        try h.expectApplied(Self.usage(subject: "\"\(a128)\""), key: a128)
        let e128 = String(repeating: "é", count: 128)  // 256 bytes, 128 characters
        try h.expectApplied(Self.usage(subject: "\"\(e128)\""), key: e128)
        let a129 = a128 + "a"
        try h.expectDeadLettered(Self.usage(subject: "\"\(a129)\""), key: a129, #"field "subject" is longer than 128 characters"#)
        let e129 = e128 + "é"
        try h.expectDeadLettered(Self.usage(subject: "\"\(e129)\""), key: e129, #"field "subject" is longer than 128 characters"#)
    }

    // MARK: UTF-8

    static func splice(_ json: String, replacing marker: String, with bytes: [UInt8]) -> [UInt8] {
        let utf8 = Array(json.utf8), m = Array(marker.utf8)
        let i = (0...(utf8.count - m.count)).first { Array(utf8[$0..<($0 + m.count)]) == m }!
        return Array(utf8[..<i]) + bytes + Array(utf8[(i + m.count)...])
    }

    @Test(arguments: [
        [0xFF] as [UInt8],                 // never valid
        [0x80],                            // lone continuation byte
        [0xC3],                            // truncated sequence
        [0xC0, 0xAF],                      // overlong '/'
        [0xE0, 0x80, 0xAF],                // overlong '/' (3 bytes)
        [0xF0, 0x80, 0x80, 0xAF],          // overlong '/' (4 bytes)
        [0xED, 0xA0, 0x80],                // UTF-8-encoded surrogate U+D800
        [0xF4, 0x90, 0x80, 0x80],          // above U+10FFFF
    ])
    func invalidAndOverlongUTF8IsDeadLettered(bytes: [UInt8]) throws {
        let h = try Harness()
        for (place, json) in [("subject", Self.usage(subject: #""acct-A@@""#)),
                              ("extension", Self.usage(extra: #""ext":"x@@","#)),
                              ("data", Self.usage(data: #""action":"chat","reason":"@@""#)),
                              ("key", Self.usage(extra: #""x@@":1,"#))] {
            let value = Self.splice(json, replacing: "@@", with: bytes)
            try h.expectDeadLettered(value, key: Array("acct-A".utf8), "invalid UTF-8")
            _ = place
        }
    }

    @Test(arguments: [#"\ud800"#, #"\udfff"#, #"\ud800x"#, #"\ud800\u0041"#, #"\udc00\ud800"#, #"\ud83d"#])
    func loneSurrogateEscapesAreDeadLettered(escape: String) throws {
        let h = try Harness()
        try h.expectDeadLettered(Self.usage(subject: "\"acct-A\(escape)\""), "unpaired surrogate")
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","member":"\#(escape)""#), "unpaired surrogate")
    }

    @Test func pairedSurrogateEscapesAreFine() throws {
        let h = try Harness()
        try h.expectApplied(Self.usage(subject: #""acct-\ud83d\ude00""#), key: "acct-😀")
    }

    @Test func nulEscapesInIdentifiersAreDeadLettered() throws {
        let h = try Harness()
        try h.expectDeadLettered(Self.usage(subject: #""acct-A\u0000""#), key: "acct-A\u{0}",
                                 #"field "subject" must not contain control characters"#)
        try h.expectDeadLettered(Self.usage(id: #""id\u0000""#), #"field "id" must not contain control characters"#)
        try h.expectDeadLettered(Self.usage(subject: #""acct-A\u001f""#), key: "acct-A\u{1f}", "control characters")
        // A raw NUL byte inside a string is malformed JSON.
        try h.expectDeadLettered(Self.splice(Self.usage(subject: #""acct-A@@""#), replacing: "@@", with: [0]),
                                 key: Array("acct-A".utf8), "control character in string")
        // In free text (data.member here) an escaped NUL is kept as text, not refused.
        try h.expectApplied(Self.usage(data: #""action":"chat","member":"a\u0000b""#))
    }

    // MARK: structure

    @Test func duplicateKeysAreDeadLettered() throws {
        let h = try Harness()
        try h.expectDeadLettered(Self.usage(extra: #""subject":"acct-A","#), #"duplicate key "subject""#)
        try h.expectDeadLettered(Self.usage(extra: #""type":"ai.usage","#), #"duplicate key "type""#)
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","action":"doc_search""#), #"duplicate key "data.action""#)
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","quantity":1,"quantity":2"#), #"duplicate key "data.quantity""#)
        // Duplicate *unknown* members are skipped like any unknown member (documented).
        try h.expectApplied(Self.usage(extra: #""ext":1,"ext":2,"#))
    }

    static func nested(_ levels: Int) -> String { String(repeating: "[", count: levels) + String(repeating: "]", count: levels) }

    @Test func hundredThousandDeepNestingIsRefusedWithoutStackOverflow() throws {
        let h = try Harness()
        let deep = Self.nested(100_000)
        try h.expectDeadLettered(Self.usage(extra: #""ext":\#(deep),"#), "JSON nested deeper than 64 levels")
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","x":\#(deep)"#), "JSON nested deeper than 64 levels")
        let objects = String(repeating: #"{"a":"#, count: 100_000) + "1" + String(repeating: "}", count: 100_000)
        try h.expectDeadLettered(Self.usage(extra: #""ext":\#(objects),"#), "JSON nested deeper than 64 levels")
        // Unterminated deep input too.
        try h.expectDeadLettered(Self.usage(extra: #""ext":\#(String(repeating: "[", count: 100_000)),"#), "malformed JSON")
    }

    /// The event object is level 1, `data` level 2: 64 levels in all are allowed, 65 are not —
    /// the same wherever the nesting sits (extension attribute, inside `data`, `data` before `type`).
    @Test func sixtyFourLevelsAreTheLimit() throws {
        let h = try Harness()
        try h.expectApplied(Self.usage(extra: #""ext":\#(Self.nested(63)),"#))
        try h.expectDeadLettered(Self.usage(extra: #""ext":\#(Self.nested(64)),"#), "nested deeper than 64")
        try h.expectApplied(Self.usage(data: #""action":"chat","x":\#(Self.nested(62))"#))
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","x":\#(Self.nested(63))"#), "nested deeper than 64")
        func dataFirst(_ n: Int) -> String {
            #"{"data":{"action":"chat","x":\#(Self.nested(n))},"specversion":"1.0","id":"df-\#(n)","source":"t","type":"ai.usage","subject":"acct-A","time":"\#(Self.time)"}"#
        }
        try h.expectApplied(dataFirst(62))
        try h.expectDeadLettered(dataFirst(63), "nested deeper than 64")
    }

    // MARK: numbers

    @Test(arguments: ["1.0", "1e0", "1E0", "2.50e1", "10e-1", "-0", "1e400", "0.5"])
    func integerFieldsMustBePlainDigits(text: String) throws {
        let h = try Harness()
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","quantity":\#(text)"#), #"field "data.quantity" must be an integer"#)
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","input_tokens":\#(text)"#), #"field "data.input_tokens" must be an integer"#)
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","tool_calls":\#(text)"#), #"field "data.tool_calls" must be an integer"#)
    }

    @Test func twentyDigitCountsAreAbsurd() throws {
        let h = try Harness()
        for text in ["12345678901234567890", "99999999999999999999999999999999", "9223372036854775808", "1000000000001"] {
            try h.expectDeadLettered(Self.usage(data: #""action":"chat","input_tokens":\#(text)"#), #"field "data.input_tokens" is absurdly large"#)
        }
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","quantity":12345678901234567890"#), #"field "data.quantity" is absurdly large"#)
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","output_tokens":-12345678901234567890"#), "must be an integer ≥ 0")
        try h.expectApplied(Self.usage(data: #""action":"chat","input_tokens":1000000000000"#))
        // Malformed number text stays malformed JSON.
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","input_tokens":01"#), "malformed JSON")
        try h.expectDeadLettered(Self.usage(data: #""action":"chat","input_tokens":1."#), "malformed JSON")
    }

    @Test func hugeAndNegativeZeroCreditAmounts() throws {
        let h = try Harness()
        func grant(_ credits: String) -> String {
            #"{"specversion":"1.0","id":"g-\#(credits)","source":"t","type":"credit.grant.issued","subject":"acct-A","time":"\#(Self.time)","data":{"credits":\#(credits)}}"#
        }
        try h.expectDeadLettered(grant("1e400"), #"field "data.credits" has more than 3 fraction digits or is too large"#)
        try h.expectDeadLettered(grant("1e-400"), #"field "data.credits" has more than 3 fraction digits or is too large"#)
        try h.expectDeadLettered(grant("-0"), #"field "data.credits" must be greater than 0"#)
        try h.expectDeadLettered(grant("1e99999999"), #"field "data.credits" has more than 3 fraction digits or is too large"#)
        try h.expectDeadLettered(grant("1.5."), "malformed JSON")
        // Unknown members may hold any valid JSON number.
        try h.expectApplied(Self.usage(extra: #""ext":[1e400,-0,1.0,-1e-400,12345678901234567890123],"#))
    }

    // MARK: times

    @Test(arguments: ["2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "99999-01-01T00:00:00Z",
                      "2026-11-21T24:00:00Z", "2026-11-21T10:00:60Z", "2026-13-01T00:00:00Z", "0000-01-01T00:00:00Z",
                      "2026-11-21T10:00:00", "2026-11-21T10:00:00.Z", "2026-11-21T10:00:00.1234567890Z"])
    func impossibleTimesAreDeadLettered(time: String) throws {
        let h = try Harness()
        let json = Self.usage().replacingOccurrences(of: Self.time, with: time)
        try h.expectDeadLettered(json, #"field "time" is not an RFC 3339 time"#)
    }

    @Test func leapDayIsAValidTime() throws {
        let h = try Harness()
        try h.expectApplied(Self.usage().replacingOccurrences(of: Self.time, with: "2028-02-29T00:00:00Z"))
    }
}

/// A large balance used at a tiny pace (valid input) puts the runway's zero day past 2262,
/// where Int64 nanoseconds end: the account document formats it from day numbers and never traps.
@Suite struct FarFutureRunwayTests {
    @Test func aTinyPaceDoesNotCrashTheAccountDocument() throws {
        let card = try Fixtures.card("""
            version: "tiny"
            effective_from: "2026-01-01T00:00:00Z"
            rounding: { increment: 0.001, mode: half_up }
            actions: { tiny: { credits: 0.001 } }
            """)
        let t = try TestLedger(cards: [card])
        t.plan("a", "pro", at: "2026-11-01T00:00:00Z")  // 2000 credits
        for day in 1...7 {
            // 0.001 credits a day: the runway is ≈ 2 million days.
            t.usage("a", "tiny", at: "2026-11-0\(day)T12:00:00Z")
        }
        #expect(t.rejections.isEmpty, "\(t.rejections)")
        let doc = t.document("a")
        // ≈ 2 million days away: past what a timestamp holds (year 2262), so null, not a crash.
        #expect(doc.contains(#""runway":{"credits_per_day":0.001,"exhausted_at":null,"before_cycle_end":null}"#), "\(doc)")
        #expect(EventTime.formatDay(0) == "1970-01-01")
        #expect(EventTime.formatDay(EventTime.daysFromCivil(year: 12026, month: 2, day: 28)) == "12026-02-28")
        #expect(EventTime.formatDay(-1) == "1969-12-31")
    }
}
