/// libFuzzer target: `SnapshotCodec` on hostile bytes (built by scripts/fuzz.sh with
/// `-sanitize=fuzzer,address`, the engine's sources compiled in).
///
/// Each input is tried twice: as-is (the checksum must refuse it), and with a valid checksum
/// appended, so the fuzzer reaches the structure reader behind the checksum — what a bug in
/// a writer, or a crafted file, would present. Properties:
///  1. no crash, no out-of-bounds access, no trap, no unbounded allocation;
///  2. a snapshot that is accepted restores a ledger whose conservation audit is clean,
///     and re-encoding it and decoding again gives the same account documents;
///  3. the restored ledger takes events of every type — usage, a plan with and without a
///     re-anchor, a grant with an expiry, a top-up, adjustments up and down, a void of a
///     known grant, an auto top-up policy, a member budget set and removed, a pin, hold
///     requests (granted, denied, priced from an action with a multiplier), usage settling a
///     hold, an extension, a release, an expiry, and usage, an extension and a release naming
///     the account's first restored hold — for each of its accounts (and a new one, whose
///     first hold request finds no account), through the real `EventDecoder` and
///     `PartitionLedger.apply`, without a trap; its audit stays clean, and it re-encodes to
///     bytes that decode to the same documents and encode to the same bytes again. A state
///     restore accepts but the ledger cannot continue from is a hole in restore validation.
///
/// `FUZZ_WRITE_SEEDS=DIR` writes seed bodies (real snapshots without their checksum) to DIR.
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSnapshot(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if let dir = getenv("FUZZ_WRITE_SEEDS") { writeSeeds(String(cString: dir)); exit(0) }
    let body = Array(UnsafeRawBufferPointer(start: data, count: size))
    check(body)
    var sealed = body
    let sum = body.withUnsafeBytes { ByteHash.hash($0, seed: 0xC4EC) }
    for i in 0..<8 { sealed.append(UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i)))) }
    check(sealed)
    return 0
}

func check(_ bytes: [UInt8]) {
    let detached: EngineConfiguration
    do throws(SnapshotError) { detached = try SnapshotCodec.detachedConfiguration(bytes) } catch { return }
    let config = pricing(detached)
    let ledger: PartitionLedger
    let header: SnapshotCodec.Header
    do throws(SnapshotError) {
        (ledger, header) = try SnapshotCodec.decode(bytes, config: config, verifyRateCards: false)
    } catch { return }
    auditClean(ledger, "accepted snapshot")
    _ = roundTrip(ledger, header, config, "re-encoded snapshot")
    applyEventsOfEveryType(to: ledger)
    auditClean(ledger, "the restored ledger after events")
    let bytes = roundTrip(ledger, header, config, "snapshot after events")
    do throws(SnapshotError) {
        let (ledger2, _) = try SnapshotCodec.decode(bytes, config: config, verifyRateCards: false)
        guard SnapshotCodec.encode(ledger2, topic: header.topic, partition: header.partition, nextOffset: header.nextOffset,
                                   metadata: header.metadata) == bytes else {
            fatalError("snapshot after events does not encode to the same bytes once restored")
        }
    } catch {
        fatalError("snapshot after events is refused: \(error)")
    }
}

func auditClean(_ ledger: PartitionLedger, _ what: String) {
    let audit = ledger.audit()
    if !audit.isClean { fatalError("\(what) fails the conservation audit: \(audit.failures.prefix(3))") }
}

/// Encodes `ledger`, decodes it again and requires the same account documents; returns the bytes.
func roundTrip(_ ledger: PartitionLedger, _ header: SnapshotCodec.Header, _ config: EngineConfiguration, _ what: String) -> [UInt8] {
    let docs = (0..<ledger.accountCount).map { ledger.accountDocument($0) }
    let bytes = SnapshotCodec.encode(ledger, topic: header.topic, partition: header.partition,
                                     nextOffset: header.nextOffset, metadata: header.metadata)
    do throws(SnapshotError) {
        let (ledger2, header2) = try SnapshotCodec.decode(bytes, config: config, verifyRateCards: false)
        guard header2.nextOffset == header.nextOffset, header2.topic == header.topic,
              (0..<ledger2.accountCount).map({ ledger2.accountDocument($0) }) == docs else {
            fatalError("\(what) restores differently")
        }
    } catch {
        fatalError("\(what) is refused: \(error)")
    }
    return bytes
}

/// The snapshot's own configuration (its plans, packs, thresholds, rate-card versions and
/// dates), with actions in every rate-card version so that usage is priced, and the runway
/// alert on.
func pricing(_ detached: EngineConfiguration) -> EngineConfiguration {
    do throws(ConfigError) {
        let cards = try detached.rateCards.versions.map { v throws(ConfigError) in
            try RateCard(version: v.card.version, effectiveFrom: v.card.effectiveFrom, incrementMillicredits: 1, roundingMode: .halfUp,
                         modelMultipliers: ["default": 1_000_000, "reasoning": 6_000_000],
                         actions: ["chat": ActionPrice(credits: 1_000_000),
                                   "summarize": ActionPrice(credits: 1_000_000, per1kInputTokens: 50_000, maxCredits: 2_000_000)])
        }
        return try EngineConfiguration(rateCards: RateCardBook(cards), priceBook: detached.priceBook,
                                       thresholds: detached.thresholds.map { Int($0) },
                                       dedupeWindowHours: Int(detached.dedupeWindowHours), runwayDays: 7)
    } catch {
        return detached
    }
}

nonisolated(unsafe) let eventDecoder = EventDecoder()

/// A dozen events of every type for each account (at most 16) and for a new one, as JSON
/// through the real decoder and `PartitionLedger.apply`, around the account's clock.
func applyEventsOfEveryType(to ledger: PartitionLedger) {
    let config = ledger.config
    let t2026 = EventTime.parse("2026-11-01T00:00:00Z")!
    let (lo, hi) = (EventTime.parse("1800-01-01T00:00:00Z")!, EventTime.parse("2190-01-01T00:00:00Z")!)
    let plan = config.priceBook.plans.first.map { #""plan":"\#(json($0.id))""# } ?? #""monthly_credits":300"#
    let pack = config.priceBook.packs.first.map { #""pack":"\#(json($0.id))""# } ?? #""credits":12.5"#
    let version = config.rateCards.versions.first.map { #""\#(json($0.card.version))""# } ?? "null"
    let day = EventTime.nanosPerDay, s = EventTime.nanosPerSecond
    var accounts = (0..<min(ledger.accountCount, 16)).map { (ledger.accountID($0), ledger.accounts[$0].clock) }
    accounts.append(("fz-new-account", Int64.min))
    var n = 0
    for (index, (account, clock)) in accounts.enumerated() {
        let base = clock == .min ? (ledger.watermark == .min ? t2026 : ledger.watermark) : clock
        let t = min(max(base, lo), hi)
        // The account's first restored hold, if any: settled, extended and released below.
        let restored = index < ledger.accountCount ? ledger.accounts[index].holdBook?.holds.first.map { json($0.id) } ?? "none" : "none"
        let events: [(String, Int64, String)] = [
            ("credit.hold.requested", t, #""hold_id":"fz-h0","credits":1"#),
            ("ai.usage", t + 1 * s, #""action":"chat","quantity":3,"member":"m-fz""#),
            ("credit.plan.assigned", t + 2 * s, plan),
            ("credit.plan.assigned", t + 3 * s, plan + #","cycle_anchor":"\#(EventTime.format(t + 3 * day))","rollover_max_credits":5"#),
            ("credit.grant.issued", t + 4 * s, #""credits":5,"expires_at":"\#(EventTime.format(t + 2 * day))","reason":"fz""#),
            ("credit.topup.purchased", t + 5 * s, pack),
            ("credit.adjusted", t + 6 * s, #""credits":2.5,"reason":"fz""#),
            ("credit.adjusted", t + 7 * s, #""credits":-1.25,"reason":"fz""#),
            ("credit.grant.voided", t + 8 * s, #""grant_id":"fz-\#(n + 3)","reason":"refund""#),
            ("credit.autotopup.configured", t + 9 * s, #""credits":10,"below_credits":100,"max_per_cycle":2"#),
            ("credit.member.budget.set", t + 10 * s, #""member":"m-fz","monthly_credits":1"#),
            ("credit.hold.requested", t + 11 * s, #""hold_id":"fz-h1","credits":3,"ttl_seconds":600,"member":"m-fz","workflow":"fz run""#),
            ("ai.usage", t + 12 * s, #""action":"chat","hold_id":"fz-h1""#),
            ("credit.hold.requested", t + 13 * s, #""hold_id":"fz-h2","action":"summarize","input_tokens":4000,"multiplier":3"#),
            ("credit.hold.extended", t + 14 * s, #""hold_id":"fz-h2","ttl_seconds":86400"#),
            ("credit.hold.requested", t + 15 * s, #""hold_id":"fz-h3","credits":1000000000"#),
            ("credit.hold.requested", t + 16 * s, #""hold_id":"fz-h4","action":"teleport""#),
            ("credit.hold.released", t + 17 * s, #""hold_id":"fz-h1""#),
            ("credit.hold.requested", t + 18 * s, #""hold_id":"fz-h5","credits":1,"ttl_seconds":60"#),
            ("credit.hold.expired", t + 78 * s, #""hold_id":"fz-h5","expires_at":"\#(EventTime.format(t + 78 * s))""#),
            ("ai.usage", t + 79 * s, #""action":"chat","hold_id":"\#(restored)""#),
            ("credit.hold.extended", t + 80 * s, #""hold_id":"\#(restored)","ttl_seconds":7200"#),
            ("credit.hold.requested", t + 81 * s, #""hold_id":"\#(restored)","credits":2"#),
            ("credit.hold.released", t + 82 * s, #""hold_id":"\#(restored)""#),
            ("ai.usage", t + day, #""action":"summarize","input_tokens":9000,"model":"reasoning","member":"m-fz""#),
            ("credit.member.budget.set", t + day + s, #""member":"m-fz","monthly_credits":null"#),
            ("credit.ratecard.pinned", t + day + 2 * s, #""version":\#(version),"until":"\#(EventTime.format(t + 5 * day))""#),
            ("ai.usage", t + 40 * day, #""action":"chat","quantity":2000"#),
            ("ai.usage", t - day, #""action":"chat""#),  // late
        ]
        for (type, time, data) in events {
            let source = type == "credit.adjusted" ? "ops" : "fz"
            let event = #"{"specversion":"1.0","id":"fz-\#(n)","source":"\#(source)","type":"\#(type)","subject":"\#(json(account))","#
                + #""time":"\#(EventTime.format(time))","data":{\#(data)}}"#
            n += 1
            var bytes = Array(event.utf8)
            let key = Array(account.utf8)
            bytes.withUnsafeMutableBytes { raw in
                do throws(DecodeFailure) {
                    let e = try eventDecoder.decode(UnsafeRawBufferPointer(raw))
                    _ = key.withUnsafeBytes { ledger.apply(e, key: $0, recordTime: nil) }
                } catch {}
            }
        }
    }
}

/// `s` as the inside of a JSON string.
func json(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where u.value < 0x20: out += "\\u00" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
        default: out.unicodeScalars.append(u)
        }
    }
    return out
}

/// Real snapshots from small workloads, written without their 8-byte checksum.
func writeSeeds(_ dir: String) {
    let t0 = EventTime.parse("2026-11-01T00:00:00Z")!
    let card = try! RateCard(version: "2026-11-01", effectiveFrom: t0, incrementMillicredits: 1, roundingMode: .halfUp,
                             modelMultipliers: ["default": 1_000_000, "reasoning": 6_000_000],
                             actions: ["chat": ActionPrice(credits: 1_000_000),
                                       "summarize": ActionPrice(credits: 1_000_000, per1kInputTokens: 50_000, maxCredits: 2_000_000)])
    let book = try! PriceBook(currency: "USD", plans: [.init(id: "pro", monthlyCredits: 2_000_000, priceMicros: 79_000_000)],
                              packs: [.init(id: "pack-1000", credits: 1_000_000, priceMicros: 10_000_000)])
    let config = try! EngineConfiguration(rateCards: RateCardBook([card]), priceBook: book)
    let decoder = EventDecoder()
    func event(_ n: Int, _ account: String, _ type: String, _ data: String, day: Int) -> String {
        #"{"specversion":"1.0","id":"e\#(n)","source":"seed","type":"\#(type)","subject":"\#(account)","time":"2026-11-\#(day < 10 ? "0" : "")\#(day)T10:00:00Z","data":{\#(data)}}"#
    }
    for (seed, size) in [(1, 0), (2, 3), (3, 12), (4, 40)] {
        let ledger = PartitionLedger(config: config)
        var n = 0
        for k in 0..<size {
            let account = "acct-\(k % 5)"
            var events = [event(n, account, "credit.plan.assigned", #""plan":"pro""#, day: 1)]
            events.append(event(n + 1, account, "ai.usage", #""action":"chat","quantity":\#(k + 1),"member":"m\#(k % 3)""#, day: 2 + k % 20))
            events.append(event(n + 2, account, "credit.grant.issued", #""credits":5,"expires_at":"2026-12-01T00:00:00Z""#, day: 3))
            events.append(event(n + 3, account, "ai.usage", #""action":"summarize","input_tokens":\#(k * 977),"model":"reasoning""#, day: 4 + k % 20))
            events.append(event(n + 4, account, "credit.topup.purchased", #""pack":"pack-1000""#, day: 5))
            events.append(event(n + 5, account, "credit.adjusted", #""credits":-1.5,"reason":"x""#, day: 6))
            events.append(event(n + 6, account, "ai.usage", #""action":"chat","quantity":3000"#, day: 25))
            n += 7
            for json in events {
                var bytes = Array(json.utf8)
                bytes.withUnsafeMutableBytes { raw in
                    let key = Array(account.utf8)
                    if let e = try? decoder.decode(UnsafeRawBufferPointer(raw)) {
                        _ = key.withUnsafeBytes { ledger.apply(e, key: $0, recordTime: nil) }
                    }
                }
            }
        }
        let full = SnapshotCodec.encode(ledger, topic: "ai.usage", partition: Int32(seed), nextOffset: Int64(n), metadata: 0)
        let path = "\(dir)/snapshot-\(seed).bin"
        guard let f = fopen(path, "wb") else { fatalError("cannot write \(path)") }
        _ = full.dropLast(8).withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        print("wrote \(path) (\(full.count - 8) bytes, \(ledger.accountCount) accounts)")
    }
}
