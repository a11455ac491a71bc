/// libFuzzer target: `SnapshotCodec` on hostile bytes (built by scripts/fuzz.sh with
/// `-sanitize=fuzzer,address`, the engine's sources compiled in).
///
/// Each input is tried twice: as-is (the checksum must refuse it), and with a valid checksum
/// appended, so the fuzzer reaches the structure reader behind the checksum — what a bug in
/// a writer, or a crafted file, would present. Properties:
///  1. no crash, no out-of-bounds access, no trap, no unbounded allocation;
///  2. a snapshot that is accepted restores a ledger whose conservation audit is clean,
///     and re-encoding it and decoding again gives the same account documents.
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
    let config: EngineConfiguration
    do throws(SnapshotError) { config = try SnapshotCodec.detachedConfiguration(bytes) } catch { return }
    let ledger: PartitionLedger
    let header: SnapshotCodec.Header
    do throws(SnapshotError) {
        (ledger, header) = try SnapshotCodec.decode(bytes, config: config, verifyRateCards: false)
    } catch { return }
    let docs = (0..<ledger.accountCount).map { ledger.accountDocument($0) }
    let audit = ledger.audit()
    if !audit.isClean {
        fatalError("accepted snapshot fails the conservation audit: \(audit.failures.prefix(3))")
    }
    let again = SnapshotCodec.encode(ledger, topic: header.topic, partition: header.partition,
                                     nextOffset: header.nextOffset, metadata: header.metadata)
    do throws(SnapshotError) {
        let (ledger2, header2) = try SnapshotCodec.decode(again, config: config, verifyRateCards: false)
        guard header2.nextOffset == header.nextOffset, header2.topic == header.topic,
              (0..<ledger2.accountCount).map({ ledger2.accountDocument($0) }) == docs else {
            fatalError("re-encoded snapshot restores differently")
        }
    } catch {
        fatalError("re-encoded snapshot is refused: \(error)")
    }
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
