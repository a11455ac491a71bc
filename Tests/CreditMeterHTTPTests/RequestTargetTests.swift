@testable import CreditMeterHTTP
import Testing

@Suite struct RequestTargetTests {
    @Test func pathSegmentsStayRawAndDecodeOnce() throws {
        let t = RequestTarget("/v1/accounts/a%2Fb/check?action=chat&time=2026-11-21T10:00:00%2B01:00&x=%ZZ")
        #expect(t.segments.map(String.init) == ["v1", "accounts", "a%2Fb", "check"])
        #expect(try Parameters.account(t.segments[2]) == "a/b")
        #expect(try Parameters.account("%252F") == "%2F")  // decoded exactly once
        #expect(try t.parameter("time") == "2026-11-21T10:00:00+01:00")
        #expect(throws: BadRequest.self) { try t.parameter("x") }
        #expect(try t.parameter("absent") == nil)
    }

    @Test(arguments: ["1.0", "1e0", "-0", "+1", "", " 1", "0x1", "99999999999999999999"])
    func integersArePlainDigits(_ text: String) {
        #expect(throws: BadRequest.self) { try Parameters.integer(RequestTarget("/?limit=\(text)"), "limit", 1...1000, default: 100) }
    }

    @Test func integerRangesAndDefaults() throws {
        #expect(try Parameters.integer(RequestTarget("/?limit=7"), "limit", 1...1000, default: 100) == 7)
        #expect(try Parameters.integer(RequestTarget("/"), "limit", 1...1000, default: 100) == 100)
        #expect(throws: BadRequest.self) { try Parameters.integer(RequestTarget("/?limit=0"), "limit", 1...1000, default: 100) }
        #expect(throws: BadRequest.self) { try Parameters.integer(RequestTarget("/?limit=1001"), "limit", 1...1000, default: 100) }
    }

    @Test func accountIdsAreOneToOneHundredTwentyEightCharacters() throws {
        #expect(throws: BadRequest.self) { try Parameters.account("") }
        #expect(try Parameters.account(Substring(String(repeating: "é", count: 128))).unicodeScalars.count == 128)
        #expect(throws: BadRequest.self) { try Parameters.account(Substring(String(repeating: "a", count: 129))) }
        #expect(throws: BadRequest.self) { try Parameters.account("%C3%28") }  // not UTF-8
    }

    @Test func tokenComparisonIsExact() {
        #expect(API.constantTimeEqual(Array("s3cret".utf8), Array("s3cret".utf8)))
        #expect(!API.constantTimeEqual(Array("s3cre".utf8), Array("s3cret".utf8)))
        #expect(!API.constantTimeEqual(Array("s3cret!".utf8), Array("s3cret".utf8)))
        #expect(!API.constantTimeEqual(Array("S3cret".utf8), Array("s3cret".utf8)))
    }

    @Test func redirectLocationKeepsPathAndQuery() {
        #expect(API.location("http://10.0.0.9:8080", "/v1/accounts/a%2Fb") == "http://10.0.0.9:8080/v1/accounts/a%2Fb?redirected=1")
        #expect(API.location("http://10.0.0.9:8080/", "/v1/accounts/x/check?action=chat") == "http://10.0.0.9:8080/v1/accounts/x/check?action=chat&redirected=1")
        #expect(API.location("https://meter.example/", "/ui/accounts/x?token=t%2B1&") == "https://meter.example/ui/accounts/x?token=t%2B1&redirected=1")
    }
}
