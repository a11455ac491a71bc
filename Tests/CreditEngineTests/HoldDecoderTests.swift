import Testing
import CreditEngine

/// Bad input in the four hold types and in usage's `hold_id` (contract §7, §15): a
/// `DecodeFailure` naming the field, dead-lettered, nothing changes, nothing remembered.
@Suite struct HoldDecoderTests {
    static let id129 = String(repeating: "h", count: 129)
    static let wide129 = String(repeating: "é", count: 129)

    static func json(_ type: String, _ data: String, id: String = "bad") -> String {
        #"{"specversion":"1.0","id":""# + id
            + #"","source":"credit-meter/http","type":""# + type + #"","subject":"acme","time":"2026-11-02T00:00:00Z","data":"#
            + data + "}"
    }

    @Test(arguments: [
        // credit.hold.requested: hold_id
        ("credit.hold.requested", #"{"credits":5}"#, #"missing required field "data.hold_id""#),
        ("credit.hold.requested", #"{"hold_id":"","credits":5}"#, #"field "data.hold_id" must be 1 to 128 characters"#),
        ("credit.hold.requested", #"{"hold_id":"run/1","credits":5}"#, #"field "data.hold_id" must not contain '/'"#),
        ("credit.hold.requested", #"{"hold_id":""# + id129 + #"","credits":5}"#, #"field "data.hold_id" must be 1 to 128 characters"#),
        ("credit.hold.requested", #"{"hold_id":""# + wide129 + #"","credits":5}"#, #"field "data.hold_id" must be 1 to 128 characters"#),
        ("credit.hold.requested", #"{"hold_id":7,"credits":5}"#, #"field "data.hold_id" must be a string"#),
        ("credit.hold.requested", #"{"hold_id":null,"credits":5}"#, #"field "data.hold_id" must be a string"#),
        ("credit.hold.requested", #"{"hold_id":"a","hold_id":"b","credits":5}"#, #"malformed event: duplicate key "data.hold_id""#),
        // credits, action, multiplier
        ("credit.hold.requested", #"{"hold_id":"h","credits":0}"#, #"field "data.credits" must be greater than 0"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":-5}"#, #"field "data.credits" must not be negative"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":0.0005}"#, #"field "data.credits" has more than 3 fraction digits or is too large"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":"5"}"#, #"field "data.credits" must be a number"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"action":"chat"}"#, #"field "data.credits" and data.action are exclusive: give one of them"#),
        ("credit.hold.requested", #"{"hold_id":"h"}"#, #"missing required field "data.credits""#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":null}"#, #"missing required field "data.credits""#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"multiplier":2}"#, #"field "data.multiplier" applies to data.action only"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"multiplier":1}"#, #"field "data.multiplier" applies to data.action only"#),
        ("credit.hold.requested", #"{"hold_id":"h","action":"chat","multiplier":0}"#, #"field "data.multiplier" must be an integer ≥ 1"#),
        ("credit.hold.requested", #"{"hold_id":"h","action":"chat","multiplier":-2}"#, #"field "data.multiplier" must be an integer ≥ 1"#),
        ("credit.hold.requested", #"{"hold_id":"h","action":"chat","multiplier":2.0}"#, #"field "data.multiplier" must be an integer ≥ 1"#),
        ("credit.hold.requested", #"{"hold_id":"h","action":"chat","multiplier":"2"}"#, #"field "data.multiplier" must be an integer ≥ 1"#),
        ("credit.hold.requested", #"{"hold_id":"h","action":"chat","multiplier":1000000001}"#, #"field "data.multiplier" is absurdly large (limit 1000000000)"#),
        ("credit.hold.requested", #"{"hold_id":"h","action":"chat","quantity":0}"#, #"field "data.quantity" must be an integer ≥ 1"#),
        ("credit.hold.requested", #"{"hold_id":"h","action":7}"#, #"field "data.action" must be a string"#),
        // ttl_seconds
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"ttl_seconds":0}"#, #"field "data.ttl_seconds" must be an integer from 1 to 604800"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"ttl_seconds":604801}"#, #"field "data.ttl_seconds" must be an integer from 1 to 604800"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"ttl_seconds":-1}"#, #"field "data.ttl_seconds" must be an integer from 1 to 604800"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"ttl_seconds":"60"}"#, #"field "data.ttl_seconds" must be an integer from 1 to 604800"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"ttl_seconds":60.0}"#, #"field "data.ttl_seconds" must be an integer from 1 to 604800"#),
        // member, workflow
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"member":"ana/b"}"#, #"field "data.member" must not contain '/'"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"member":""}"#, #"field "data.member" must be 1 to 128 characters"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"member":""# + id129 + #""}"#, #"field "data.member" must be 1 to 128 characters"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"workflow":""}"#, #"field "data.workflow" must be 1 to 128 characters"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"workflow":""# + wide129 + #""}"#, #"field "data.workflow" must be 1 to 128 characters"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"workflow":3}"#, #"field "data.workflow" must be a string"#),
        // credit.hold.extended
        ("credit.hold.extended", #"{"hold_id":"h"}"#, #"missing required field "data.ttl_seconds""#),
        ("credit.hold.extended", #"{"hold_id":"h","ttl_seconds":null}"#, #"missing required field "data.ttl_seconds""#),
        ("credit.hold.extended", #"{"hold_id":"h","ttl_seconds":0}"#, #"field "data.ttl_seconds" must be an integer from 1 to 604800"#),
        ("credit.hold.extended", #"{"hold_id":"h","ttl_seconds":604801}"#, #"field "data.ttl_seconds" must be an integer from 1 to 604800"#),
        ("credit.hold.extended", #"{"ttl_seconds":60}"#, #"missing required field "data.hold_id""#),
        ("credit.hold.extended", #"{"hold_id":"a/b","ttl_seconds":60}"#, #"field "data.hold_id" must not contain '/'"#),
        // credit.hold.released
        ("credit.hold.released", #"{}"#, #"missing required field "data.hold_id""#),
        ("credit.hold.released", #"{"hold_id":""}"#, #"field "data.hold_id" must be 1 to 128 characters"#),
        ("credit.hold.released", #"{"hold_id":""# + id129 + #""}"#, #"field "data.hold_id" must be 1 to 128 characters"#),
        // credit.hold.expired
        ("credit.hold.expired", #"{"hold_id":"h"}"#, #"missing required field "data.expires_at""#),
        ("credit.hold.expired", #"{"hold_id":"h","expires_at":null}"#, #"missing required field "data.expires_at""#),
        ("credit.hold.expired", #"{"hold_id":"h","expires_at":"tomorrow"}"#, #"field "data.expires_at" is not an RFC 3339 time"#),
        ("credit.hold.expired", #"{"expires_at":"2026-11-02T01:00:00Z"}"#, #"missing required field "data.hold_id""#),
        ("credit.hold.expired", #"{"hold_id":"a/b","expires_at":"2026-11-02T01:00:00Z"}"#, #"field "data.hold_id" must not contain '/'"#),
        // control characters (a hold id goes into its expiry record's id), and an id too long to
        // leave room for that record's id beside the account's
        ("credit.hold.requested", #"{"hold_id":"a\u0001b","credits":5}"#, #"field "data.hold_id" must not contain control characters"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"workflow":"a\u007fb"}"#, #"field "data.workflow" must not contain control characters"#),
        ("ai.usage", #"{"action":"chat","hold_id":"a","hold_id":"b"}"#, #"malformed event: duplicate key "data.hold_id""#),
    ])
    func badHoldInputIsDeadLetteredNamingTheField(type: String, data: String, reason: String) throws {
        let decoder = EventDecoder()
        var bytes = Array(Self.json(type, data).utf8)
        let failure: DecodeFailure? = bytes.withUnsafeMutableBytes { raw in
            do throws(DecodeFailure) { _ = try decoder.decode(UnsafeRawBufferPointer(raw)); return nil } catch { return error }
        }
        #expect(failure?.description == reason)
        // Through the ledger: dead-lettered with that reason, nothing changes, the id is not remembered.
        let t = try TestLedger()
        t.plan("acme", nil, at: "2026-11-01T00:00:00Z", monthly: "100", id: "p1")
        t.hold("acme", "h", credits: "5", at: "2026-11-01T12:00:00Z", id: "q0")
        let before = t.account("acme"), counters = t.ledger.counters
        let r = t.apply(Self.json(type, data))
        #expect(r.outcome == .rejected(.decode(failure ?? .emptyValue)) && r.hold == nil)
        #expect(t.account("acme") == before && t.ledger.counters.applied == counters.applied)
        #expect(t.rejections == [reason])
        let ok = t.hold("acme", "h2", credits: "1", at: "2026-11-02T00:00:00Z", id: "bad")
        #expect(ok.outcome == .applied && ok.hold?.hold?.status == .active)
    }

    /// The edges that are valid: 128 characters (also multi-byte), ttl 1 and 604800, a
    /// workflow with '/', a multiplier with an action, null for optional fields, `hold_id`
    /// null on usage (no hold).
    @Test(arguments: [
        ("credit.hold.requested", #"{"hold_id":""# + String(repeating: "h", count: 128) + #"","credits":5}"#),
        ("credit.hold.requested", #"{"hold_id":""# + String(repeating: "é", count: 128) + #"","credits":5}"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":0.001,"ttl_seconds":1}"#),
        ("credit.hold.requested", #"{"hold_id":"h","credits":5,"ttl_seconds":604800,"workflow":"nightly/sync","member":"ana"}"#),
        ("credit.hold.requested", #"{"hold_id":"h","action":"chat","multiplier":3,"quantity":2,"model":null,"ttl_seconds":null}"#),
        ("credit.hold.requested", #"{"hold_id":"h","action":"chat","multiplier":null,"member":null,"workflow":null}"#),
        ("credit.hold.extended", #"{"hold_id":"h","ttl_seconds":604800}"#),
        ("credit.hold.released", #"{"hold_id":"h","ttl_seconds":0}"#),
        ("credit.hold.expired", #"{"hold_id":"h","expires_at":"2026-11-02T01:00:00Z"}"#),
        ("ai.usage", #"{"action":"chat","hold_id":null}"#),
        // usage is never dead-lettered for its hold_id (§15: the work happened): one that names
        // no hold the account has is charged, unheld
        ("ai.usage", #"{"action":"chat","hold_id":""}"#),
        ("ai.usage", #"{"action":"chat","hold_id":"run/1"}"#),
        ("ai.usage", #"{"action":"chat","hold_id":""# + id129 + #""}"#),
        ("ai.usage", #"{"action":"chat","hold_id":12}"#),
        ("ai.usage", #"{"action":"chat","hold_id":"a\u0001b"}"#),
        ("ai.usage", #"{"action":"chat","hold_id":""# + String(repeating: "é", count: 128) + #""}"#),
    ])
    func validHoldInputAtTheEdgesIsApplied(type: String, data: String) throws {
        let t = try TestLedger()
        t.plan("acme", nil, at: "2026-11-01T00:00:00Z", monthly: "100", id: "p1")
        let r = t.apply(Self.json(type, data))
        #expect(r.outcome == .applied, "\(t.rejections)")
    }

    /// Usage naming a hold with an id no hold can have is charged in full and counted as unheld;
    /// a `hold_id` that is not a string names no hold (charged, not counted).
    @Test func usageWithAnyHoldIDIsChargedAndAStringOneNamingNoHoldCountsAsUnheld() throws {
        let t = try TestLedger()
        t.plan("acme", nil, at: "2026-11-01T00:00:00Z", monthly: "100", id: "p1")
        for (i, h) in [#""run/1""#, #""""#, "12", #""a\u0001b""#].enumerated() {
            let r = t.apply(Self.json("ai.usage", #"{"action":"chat","hold_id":"# + h + "}", id: "u\(i)"))
            #expect(r.outcome == .applied && r.charged == 1_000)
        }
        #expect(t.ledger.counters.usageUnheld == 3 && t.balance("acme") == 96_000)
    }

    /// A hold whose expiry record's id (`<account>/<hold_id>/expired/<expires_at>`) could not
    /// fit 1,024 bytes is refused: it could never expire without other traffic (§15).
    @Test func aHoldIDLeavesRoomForItsExpiryRecordsID() throws {
        let decoder = EventDecoder()
        let account = String(repeating: "𝄞", count: 128)  // 512 bytes
        func request(_ holdID: String) -> String {
            #"{"specversion":"1.0","id":"r","source":"s","type":"credit.hold.requested","subject":""# + account
                + #"","time":"2026-11-02T00:00:00Z","data":{"hold_id":""# + holdID + #"","credits":5}}"#
        }
        let fits = String(repeating: "𝄞", count: (1024 - 512 - EventDecoder.holdExpiryIDOverhead) / 4)  // 472 bytes
        var ok = Array(request(fits).utf8)
        #expect(throws: Never.self) { _ = try ok.withUnsafeBytes { try decoder.decode($0) } }
        var long = Array(request(fits + "𝄞").utf8)
        #expect(throws: DecodeFailure.self) { _ = try long.withUnsafeBytes { try decoder.decode($0) } }
    }
}
