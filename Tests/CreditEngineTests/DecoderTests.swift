import Foundation
import Testing
import CreditEngine

/// A slow reference decoder on Foundation's JSONSerialization: the oracle the zero-copy
/// decoder must agree with on every fixture and on generated input.
enum ReferenceDecoder {
    struct Fields: Equatable {
        var type, id, source, subject: String
        var time: Int64
        var action, model, capability, member, plan, pack, version: String?
        var quantity: Int64 = 1
        var credits: Int64?
        var inputTokens: Int64 = 0
    }

    static func decode(_ json: String) -> Fields? {
        guard let data = json.data(using: .utf8),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              obj["specversion"] as? String == "1.0",
              let type = obj["type"] as? String, let id = obj["id"] as? String, let source = obj["source"] as? String,
              let subject = obj["subject"] as? String, let timeText = obj["time"] as? String,
              let time = EventTime.parse(timeText), let d = obj["data"] as? [String: Any] else { return nil }
        var f = Fields(type: type, id: id, source: source, subject: subject, time: time)
        f.action = d["action"] as? String
        f.model = d["model"] as? String
        f.capability = d["capability"] as? String
        f.member = d["member"] as? String
        f.plan = d["plan"] as? String
        f.pack = d["pack"] as? String
        f.version = d["version"] as? String
        if let q = d["quantity"] as? NSNumber { f.quantity = q.int64Value }
        if let n = d["input_tokens"] as? NSNumber { f.inputTokens = n.int64Value }
        if let c = d["credits"] as? NSNumber { f.credits = ExactDecimal.parse(c.stringValue)?.scaled(by: 3) }
        return f
    }

    static func fast(_ json: String) -> Fields? {
        var bytes = Array(json.utf8)
        let decoder = EventDecoder()
        return bytes.withUnsafeMutableBytes { raw -> Fields? in
            guard let e = try? decoder.decode(UnsafeRawBufferPointer(raw)) else { return nil }
            var f = Fields(type: e.type.name, id: e.id.utf8String, source: e.source.utf8String,
                           subject: e.subject.utf8String, time: e.time)
            f.action = e.action?.utf8String
            f.model = e.model?.utf8String
            f.capability = e.capability?.utf8String
            f.member = e.member?.utf8String
            f.plan = e.plan?.utf8String
            f.pack = e.pack?.utf8String
            f.version = e.version?.utf8String
            f.quantity = e.quantity
            f.inputTokens = e.inputTokens
            f.credits = e.credits
            return f
        }
    }
}

@Suite struct DecoderTests {
    static let fixtures: [String] = [
        // canonical
        #"{"specversion":"1.0","id":"e1","source":"svc/chat","type":"ai.usage","subject":"acct-1","time":"2026-11-21T10:00:00Z","data":{"action":"chat","quantity":2,"model":"reasoning","capability":"assistant","member":"u-7","input_tokens":1200,"cost_usd":"0.0042"}}"#,
        // reordered keys, whitespace, extension attributes, data first
        "{\n  \"data\" : { \"member\" : \"u\", \"action\" : \"doc_search\" } ,\n\t\"time\":\"2026-11-21T10:00:00.5+01:00\", \"traceparent\": \"00-ab\", \"subject\":\"acct-2\", \"type\":\"ai.usage\", \"source\":\"s\", \"id\":\"e2\", \"specversion\":\"1.0\", \"datacontenttype\":\"application/json\" }",
        // escapes and unicode in strings
        #"{"specversion":"1.0","id":"e\"3\\","source":"s\/x","type":"ai.usage","subject":"acct-\u00e9\u4e2d\ud83d\ude00","time":"2026-11-21T10:00:00Z","data":{"action":"ch\u0061t","member":"tab\there"}}"#,
        // grants and others
        #"{"specversion":"1.0","id":"g1","source":"billing","type":"credit.grant.issued","subject":"a","time":"2026-11-21T10:00:00Z","data":{"credits":12.5,"expires_at":"2026-12-21T10:00:00Z","reason":"promo","extra":{"nested":[1,2,{"x":null}]}}}"#,
        #"{"specversion":"1.0","id":"p1","source":"billing","type":"credit.plan.assigned","subject":"a","time":"2026-11-21T10:00:00Z","data":{"plan":"pro","monthly_credits":2.5e3}}"#,
        #"{"specversion":"1.0","id":"t1","source":"billing","type":"credit.topup.purchased","subject":"a","time":"2026-11-21T10:00:00Z","data":{"pack":"pack-1000"}}"#,
        #"{"specversion":"1.0","id":"r1","source":"ops","type":"credit.ratecard.pinned","subject":"a","time":"2026-11-21T10:00:00Z","data":{"version":"2026-11-01","until":null}}"#,
        #"{"specversion":"1.0","id":"q1","source":"s","type":"ai.usage","subject":"a","time":"2026-11-21T10:00:00Z","data":{"action":"chat","quantity":3,"model":null}}"#,
    ]

    @Test(arguments: fixtures)
    func zeroCopyDecoderAgreesWithTheReference(json: String) throws {
        let reference = try #require(ReferenceDecoder.decode(json))
        #expect(ReferenceDecoder.fast(json) == reference)
    }

    @Test func agreesOnGeneratedInput() {
        var rng = SplitMix(seed: 42)
        let keys = ["specversion", "id", "source", "type", "subject", "time", "data"]
        for n in 0..<2_000 {
            let account = "acct-\(rng.next() % 1000)" + (rng.next() % 7 == 0 ? "\u{e9}\"x" : "")
            var data: [(String, EventJSON.Value)] = [("action", .s(["chat", "doc_search", "web\\research"][Int(rng.next() % 3)]))]
            if rng.next() % 2 == 0 { data.append(("quantity", .n(String(1 + rng.next() % 50)))) }
            if rng.next() % 3 == 0 { data.append(("member", .s("user \(rng.next() % 9)\n"))) }
            if rng.next() % 4 == 0 { data.append(("unknown_field", .obj([("a", .n("1.5e-3"))]))) }
            data.shuffle(using: &rng)
            var pairs: [(String, EventJSON.Value)] = [("specversion", .s("1.0")), ("id", .s("id-\(n)")), ("source", .s("gen")),
                                                       ("type", .s("ai.usage")), ("subject", .s(account)),
                                                       ("time", .s("2026-11-21T10:00:0\(n % 10)Z")), ("data", .obj(data))]
            pairs.shuffle(using: &rng)
            var json = EventJSON.render(.obj(pairs))
            if n % 5 == 0 { json = json.replacingOccurrences(of: ",", with: " ,\n ") }
            let reference = ReferenceDecoder.decode(json)
            #expect(reference != nil, "\(json)")
            #expect(ReferenceDecoder.fast(json) == reference, "\(json)")
            _ = keys
        }
    }

    @Test func binaryModeReadsAttributesFromHeaders() throws {
        let decoder = EventDecoder()
        var attrs = BinaryModeAttributes()
        let strings = ["1.0", "b1", "svc", "ai.usage", "acct-9", "2026-11-21T10:00:00Z"]
        let storage = strings.map { Array($0.utf8) }
        var value = Array(#"{"action":"web_research","quantity":2}"#.utf8)
        let e: DecodedEvent = try storage[0].withUnsafeBytes { s0 in
            try storage[1].withUnsafeBytes { s1 in
                try storage[2].withUnsafeBytes { s2 in
                    try storage[3].withUnsafeBytes { s3 in
                        try storage[4].withUnsafeBytes { s4 in
                            try storage[5].withUnsafeBytes { s5 in
                                attrs.specversion = s0; attrs.id = s1; attrs.source = s2
                                attrs.type = s3; attrs.subject = s4; attrs.time = s5
                                return try value.withUnsafeBytes { try decoder.decode($0, binary: attrs) }
                            }
                        }
                    }
                }
            }
        }
        _ = storage.count
        value.removeAll()
        #expect(e.type == .usage)
        #expect(e.quantity == 2)
        #expect(e.time == EventTime.parse("2026-11-21T10:00:00Z"))
    }

    @Test func oversizedRecordsAreRefused() {
        let decoder = EventDecoder()
        let big = [UInt8](repeating: 0x20, count: EventDecoder.maxRecordBytes + 1)
        _ = big.withUnsafeBytes { raw in
            #expect(throws: DecodeFailure.tooLarge(bytes: EventDecoder.maxRecordBytes + 1)) { try decoder.decode(raw) }
        }
    }
}

/// Deterministic PRNG for generated tests.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
