/// libFuzzer target: the YAML configuration loader on hostile text (built by scripts/fuzz.sh
/// with `-sanitize=fuzzer,address`: the CreditConfig sources compiled into this module, against
/// CreditEngine and Yams/libyaml built with the same instrumentation).
///
/// An input is up to three files separated by NUL bytes: `credit-meter.yaml`, one rate card,
/// the price book (a missing one is the shipped file). Each is read the way the service reads
/// it — the rate card and price book parsed on their own too, so that a broken main file does
/// not hide them — from an in-memory folder. Properties:
///  1. no crash, no trap, no out-of-bounds access, no hang (libFuzzer's -timeout);
///  2. a refusal is a `ConfigError` naming the file it is about, with a non-empty reason that
///     the command line's one-line rule keeps readable (its first line is not blank);
///  3. what is accepted loads again to the same configuration (no state between loads).
import CreditEngine
#if canImport(Glibc)
import Glibc
#endif

private struct Unreadable: Error {}

/// Like String(contentsOfFile:encoding: .utf8): invalid UTF-8 cannot be read.
@Sendable private func text(_ b: [UInt8]) throws -> String {
    guard let s = String(validating: b, as: UTF8.self) else { throw Unreadable() }
    return s
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
    let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false).map { Array($0) }
    let folder = "/fuzz"
    let shippedCard = ShippedConfiguration.text("rate-cards/2026-11-01.yaml").map { Array($0.utf8) } ?? []
    let shippedBook = ShippedConfiguration.text("price-book.yaml").map { Array($0.utf8) } ?? []
    let config = parts[0]
    let card = parts.count > 1 ? parts[1] : shippedCard
    let book = parts.count > 2 ? parts[2] : shippedBook

    let files = ConfigFiles(
        read: { path in
            if path == folder + "/credit-meter.yaml" { return try text(config) }
            if path.hasSuffix("/card.yaml") { return try text(card) }
            return try text(book)  // the price book, wherever the file puts it
        },
        list: { _ in ["card.yaml"] })

    func checkRefusal(_ error: ConfigError, _ what: String) {
        guard let file = error.file, !file.isEmpty else { fatalError("\(what): refusal names no file: \(error)") }
        let firstLine = error.description.split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
        if error.message.isEmpty || firstLine.allSatisfy({ $0 == " " }) {
            fatalError("\(what): refusal without a readable reason: \(error)")
        }
    }

    if let t = try? text(card) {
        do throws(ConfigError) { _ = try RateCardLoader.parseRateCard(t, file: folder + "/card.yaml") } catch { checkRefusal(error, "rate card") }
    }
    if let t = try? text(book) {
        do throws(ConfigError) { _ = try RateCardLoader.parsePriceBook(t, file: folder + "/price-book.yaml") } catch { checkRefusal(error, "price book") }
    }
    do throws(ConfigError) {
        let loaded = try ServiceConfiguration.load(path: folder + "/credit-meter.yaml", environment: [:], files: files)
        let again: ServiceConfiguration
        do throws(ConfigError) { again = try ServiceConfiguration.load(path: folder + "/credit-meter.yaml", environment: [:], files: files) } catch {
            fatalError("accepted once, refused the second time: \(error)")
        }
        let (k1, k2) = (loaded.kafka, again.kafka)
        if k1.bootstrapServers != k2.bootstrapServers || k1.inputTopics != k2.inputTopics || k1.properties != k2.properties || loaded.thresholds != again.thresholds || loaded.rateCardFiles != again.rateCardFiles {
            fatalError("two loads of the same files differ")
        }
    } catch {
        checkRefusal(error, "configuration")
    }
    return 0
}
