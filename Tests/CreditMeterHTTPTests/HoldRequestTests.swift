import CreditEngine
@testable import CreditMeterHTTP
import CreditMeterService
import Foundation
import Testing

/// How the hold routes read a request (§15) without a service: the event they would produce,
/// checked by the engine's decoder, and the 400 that names the field.
@Suite struct HoldRequestTests {
    static let time = EventTime.parse("2026-11-10T12:00:00Z")!

    func refusal(_ body: String, _ type: EventType = .holdRequested, account: String = "acct-1") -> String? {
        do {
            _ = try HoldEvents.make(type, account: account, data: Array(body.utf8), time: Self.time)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func theEventIsTheBodyAsSentInTheServicesEnvelope() throws {
        let body = #" {"hold_id":"h-1","credits":12.5, "workflow":"w"} "#
        let e = try HoldEvents.make(.holdRequested, account: "a/b", data: Array(body.utf8), time: Self.time)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(e.value)) as? [String: Any])
        #expect(json["source"] as? String == "credit-meter/http" && json["type"] as? String == "credit.hold.requested")
        #expect(json["subject"] as? String == "a/b" && json["time"] as? String == "2026-11-10T12:00:00Z" && json["id"] as? String == e.id)
        #expect(String(decoding: e.value, as: UTF8.self).hasSuffix(#""data":"# + body + "}"))
        #expect(e.holdID == "h-1" && e.time == Self.time)
        // A fresh id per attempt; the fingerprint is the data's, not the envelope's or the spelling's.
        let again = try HoldEvents.make(.holdRequested, account: "a/b", data: Array(#"{"workflow":"w","credits":12.500,"hold_id":"h-1"}"#.utf8),
                                        time: Self.time + 1)
        #expect(again.id != e.id && again.fingerprint == e.fingerprint)
        let other = try HoldEvents.make(.holdRequested, account: "a/b", data: Array(#"{"hold_id":"h-1","credits":12.5}"#.utf8), time: Self.time)
        #expect(other.fingerprint != e.fingerprint)
    }

    @Test(arguments: [
        (#"{"credits":1}"#, "hold_id: is required"),
        (#"{"hold_id":"x"}"#, "credits: is required"),
        (#"{"hold_id":"x","credits":-1}"#, "credits: must not be negative"),
        (#"{"hold_id":"x","credits":0}"#, "credits: must be greater than 0"),
        (#"{"hold_id":"x","credits":1,"action":"chat"}"#, "credits: and action are exclusive: give one of them"),
        (#"{"hold_id":"x","credits":1,"multiplier":2}"#, "multiplier: applies to action only"),
        (#"{"hold_id":"x/y","credits":1}"#, "hold_id: must not contain '/'"),
        (#"{"hold_id":"x","credits":1,"ttl_seconds":"60"}"#, "ttl_seconds: must be an integer from 1 to 604800"),
        (#"{"hold_id":"x","hold_id":"y","credits":1}"#, "hold_id: is given more than once"),
        (#"{"hold_id":"x","credits":1} {}"#, "body: is not valid JSON (at byte 28: unexpected bytes after data)"),
        (#"["x"]"#, "body: must be a JSON object"),
        ("", "body: is required"),
    ])
    func refusedNamingTheField(_ body: String, _ reason: String) {
        #expect(refusal(body) == reason)
    }

    @Test func theAccountIsChecked() {
        #expect(refusal(#"{"hold_id":"x","credits":1}"#, account: "a\u{1}b") == "account: must not contain control characters")
    }

    @Test func extendAndReleaseTakeTheHoldFromThePath() throws {
        let prefix = API.holdIDMember("h \"1\"")
        #expect(String(decoding: prefix, as: UTF8.self) == #"{"hold_id":"h \"1\"""#)
        #expect(try Array(API.members(Array(#" { "ttl_seconds" : 60 } "#.utf8))) == Array(#" "ttl_seconds" : 60 "#.utf8))
        #expect(try API.members(Array("{ }".utf8)).isEmpty && API.members([]).isEmpty)
        for bad in ["[]", "60", "{", #"{"a":1"#] {
            #expect(throws: BadRequest.self) { _ = try API.members(Array(bad.utf8)) }
        }
        let data = prefix + Array(#","ttl_seconds":60}"#.utf8)
        let e = try HoldEvents.make(.holdExtended, account: "acct-1", data: data, time: Self.time)
        #expect(e.holdID == "h \"1\"")
        #expect(refusal(String(decoding: prefix + Array("}".utf8), as: UTF8.self), .holdExtended) == "ttl_seconds: is required")
    }

    @Test func pathSegmentsAndHoldIDs() throws {
        #expect(HTML.urlEncode("p 1/é~._-") == "p%201%2F%C3%A9~._-")
        #expect(try Parameters.holdID("p%201") == "p 1")
        for (raw, reason) in [("a%2Fb", "hold_id: must not contain /"), ("%ZZ", "hold_id: is not valid percent-encoded UTF-8"),
                              (Substring(String(repeating: "x", count: 129)), "hold_id: must be 1 to 128 characters")] {
            #expect(throws: BadRequest.self) { _ = try Parameters.holdID(raw) }
            do { _ = try Parameters.holdID(raw) } catch { #expect(error.reason == reason) }
        }
    }

    @Test func routesAndTheirMethods() {
        #expect(API.route(["v1", "accounts", "a", "holds"]) == (.holds, "a"))
        #expect(API.route(["v1", "accounts", "a", "holds", "h"]) == (.hold, "a"))
        #expect(API.route(["v1", "accounts", "a", "holds", "h", "extend"]) == (.holdExtend, "a"))
        #expect(API.route(["v1", "accounts", "a", "holds", "h", "release"]) == (.holdRelease, "a"))
        #expect(API.route(["v1", "accounts", "a", "holds", "h", "cancel"]).0 == .unmatched)
        #expect(API.Route.holds.allowedMethods == "GET, HEAD, POST" && API.Route.hold.allowedMethods == "GET, HEAD")
        #expect(API.Route.holdExtend.allowedMethods == "POST" && API.Route.holdRelease.allowedMethods == "POST")
        #expect(API.Route.account.allowedMethods == "GET, HEAD")
    }
}
