import Testing
import CreditEngine

@Suite struct ExactDecimalTests {
    @Test(arguments: [
        ("12.5", Int64(12_500)), ("0.125", 125), ("3", 3000), ("-0.25", -250), ("1e3", 1_000_000),
        ("1.5E-2", 15), ("0", 0), ("-0", 0), ("100.000", 100_000), ("1000000000000", 1_000_000_000_000_000),
    ])
    func scalesToMillicredits(text: String, expected: Int64) {
        #expect(ExactDecimal.parse(text)?.scaled(by: 3) == expected)
    }

    @Test(arguments: ["0.0001", "1.2345", "1e-4", "99999999999999999999"])
    func refusesWhatMillicreditsCannotHold(text: String) {
        #expect(ExactDecimal.parse(text)?.scaled(by: 3) == nil)
    }

    @Test(arguments: ["", "-", "01", "1.", ".5", "1e", "+1", "1.2.3", "0x10", "1 ", "NaN", "--1"])
    func refusesWhatIsNotJSONNumberGrammar(text: String) {
        #expect(ExactDecimal.parse(text) == nil)
    }

    @Test func formatsMillicreditsAsShortestExactNumbers() {
        #expect(Credits.format(12_500) == "12.5")
        #expect(Credits.format(2_000) == "2")
        #expect(Credits.format(-250) == "-0.25")
        #expect(Credits.format(1) == "0.001")
        #expect(Credits.format(0) == "0")
        #expect(Credits.format(Int64.min + 1) == "-9223372036854775.807")
        #expect(FixedPoint.string(-33, scale: 1, minFractionDigits: 1) == "-3.3")
        #expect(FixedPoint.string(90, scale: 1, minFractionDigits: 1) == "9.0")
    }
}

@Suite struct EventTimeTests {
    @Test(arguments: [
        ("2026-11-21T10:00:00Z", "2026-11-21T10:00:00Z"),
        ("2026-11-21T10:00:00.5Z", "2026-11-21T10:00:00.500Z"),
        ("2026-11-21T10:00:00.123456Z", "2026-11-21T10:00:00.123456Z"),
        ("2026-11-21T10:00:00.000000001Z", "2026-11-21T10:00:00.000000001Z"),
        ("2026-11-21T12:30:00+02:30", "2026-11-21T10:00:00Z"),
        ("2026-11-21t10:00:00z", "2026-11-21T10:00:00Z"),
        ("2024-02-29T00:00:00-01:00", "2024-02-29T01:00:00Z"),
    ])
    func parsesAndFormatsRFC3339InUTC(input: String, canonical: String) throws {
        let t = try #require(EventTime.parse(input))
        #expect(EventTime.format(t) == canonical)
    }

    /// Formatting is total: both ends of the Int64 range (a corrupt snapshot's Int64.min once
    /// trapped the account document) and the instant before 1970.
    @Test func formatsEveryInt64() {
        #expect(EventTime.format(.min) == "1677-09-21T00:12:43.145224192Z")
        #expect(EventTime.format(.max) == "2262-04-11T23:47:16.854775807Z")
        #expect(EventTime.format(-1) == "1969-12-31T23:59:59.999999999Z")
        #expect(EventTime.format(-EventTime.nanosPerDay) == "1969-12-31T00:00:00Z")
    }

    @Test(arguments: ["2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-21 10:00Z", "2026-11-21T24:00:00Z",
                      "2026-11-21T10:00:00", "2026-11-21T10:00:00.Z", "2026-11-21T10:00:00.1234567890Z", "yesterday"])
    func refusesInvalidTimes(input: String) {
        #expect(EventTime.parse(input) == nil)
    }

    @Test func monthArithmeticClampsToTheMonthsLastDay() throws {
        let anchor = try #require(EventTime.parse("2026-01-31T10:00:00Z"))
        let starts = (0...4).map { EventTime.format(EventTime.addingMonths(Int64($0), to: anchor)) }
        #expect(starts == ["2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z",
                           "2026-04-30T10:00:00Z", "2026-05-31T10:00:00Z"])
        // Leap year, and negative k.
        let leap = try #require(EventTime.parse("2028-01-31T00:00:00Z"))
        #expect(EventTime.format(EventTime.addingMonths(1, to: leap)) == "2028-02-29T00:00:00Z")
        #expect(EventTime.format(EventTime.addingMonths(-2, to: anchor)) == "2025-11-30T10:00:00Z")
        #expect(EventTime.format(EventTime.addingMonths(-13, to: anchor)) == "2024-12-31T10:00:00Z")
    }

    @Test func cycleContainingATimeIsComputedFromTheAnchor() throws {
        let anchor = try #require(EventTime.parse("2026-01-31T10:00:00Z"))
        let t = try #require(EventTime.parse("2026-03-30T23:00:00Z"))
        let c = BillingCycle.containing(t, anchor: anchor)
        #expect(c.index == 1)
        #expect(EventTime.format(c.start) == "2026-02-28T10:00:00Z")
        #expect(EventTime.format(c.end) == "2026-03-31T10:00:00Z")
        // Exactly at a start belongs to the new cycle (end is exclusive).
        let boundary = try #require(EventTime.parse("2026-03-31T10:00:00Z"))
        #expect(BillingCycle.containing(boundary, anchor: anchor).index == 2)
        // Before the anchor: negative cycles.
        let before = try #require(EventTime.parse("2025-12-15T00:00:00Z"))
        let early = BillingCycle.containing(before, anchor: anchor)
        #expect(early.index == -2)
        #expect(EventTime.format(early.start) == "2025-11-30T10:00:00Z")
    }
}

@Suite struct SHA256Tests {
    @Test func knownDigests() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(String(repeating: "a", count: 1000)).hasPrefix("41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"))
    }
}
