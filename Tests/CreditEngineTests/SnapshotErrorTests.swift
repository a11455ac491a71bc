import Foundation
import Testing
@testable import CreditEngine

/// Every refusal of a snapshot is typed (contract §14): `.damaged` (fall back to older
/// state) or `.incompatible` (refuse to start). Each case below crafts one refusal from a
/// real snapshot — bytes cut or flipped, a field patched in place and the checksum re-sealed,
/// or a configuration that no longer matches — and checks both its case and its reason.
/// (Restore validation's refusals, all `.damaged`, are in SnapshotValidationTests.)
@Suite struct SnapshotErrorTests {
    static let account = "acct-under-test"

    /// One account with a plan, a top-up block, a low-balance alert fired and an auto top-up
    /// policy on pack-1000: every part a case below patches.
    static func state() throws -> TestLedger {
        let t = try TestLedger()
        t.plan(account, "pro", at: "2026-11-01T00:00:00Z")
        t.topup(account, at: "2026-11-01T00:00:01Z")
        t.autoTopup(account, below: "50", maxPerCycle: 2, at: "2026-11-01T00:00:02Z")
        for i in 0..<7 { t.usage(account, "knowledge_sync", at: "2026-11-02T00:00:0\(i)Z", quantity: 15) }
        return t
    }

    static func encode(_ ledger: PartitionLedger) -> [UInt8] {
        SnapshotCodec.encode(ledger, topic: "ai.usage", partition: 0, nextOffset: 10, metadata: 1)
    }

    /// The body of a snapshot (without its checksum) sealed with a valid one.
    static func sealed(_ body: some Collection<UInt8>) -> [UInt8] { SnapshotHardeningTests.sealed(Array(body)) }

    /// `bytes` with the only occurrence of `pattern` replaced by `replacement`.
    static func patched(_ bytes: [UInt8], _ pattern: [UInt8], _ replacement: [UInt8]) throws -> [UInt8] {
        let starts = (0...(bytes.count - pattern.count)).filter { bytes[$0..<($0 + pattern.count)].elementsEqual(pattern) }
        try #require(starts.count == 1, "pattern found \(starts.count) times")
        return Array(bytes[..<starts[0]]) + replacement + bytes[(starts[0] + pattern.count)...]
    }

    static func writer(_ write: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter(capacity: 32)
        write(&w)
        return w.bytes
    }

    /// The configuration the state was written under, with `change` applied to its parts.
    static func config(cards: (String) -> String = { $0 }, plans: (PriceBook.Plan) -> Bool = { _ in true },
                       packs: (PriceBook.Pack) -> Bool = { _ in true }) throws -> EngineConfiguration {
        let yaml = try String(contentsOfFile: Fixtures.configsDir + "/rate-cards/2026-11-01.yaml", encoding: .utf8)
        let book = try Fixtures.priceBook()
        return try Fixtures.engine(cards: [Fixtures.card(cards(yaml))],
                                   book: PriceBook(currency: book.currency, plans: book.plans.filter(plans), packs: book.packs.filter(packs)))
    }

    enum Crafted: String, CaseIterable, Sendable {
        // The envelope.
        case shorterThanTheEnvelope, notASnapshot, flippedByte, lastByteCut, versionByteFlippedInPlace, versionZero, newerFormat
        // The structure behind a valid checksum.
        case bodyEndsInAField, countPastTheEnd, overlongVarint, bytesAfterTheState, badBlockKind, badHistoryKind, badAlertKind,
             planPastTheSnapshotsTable, dedupeEntryTimeOutOfRange
        // What `snapshot inspect` rebuilds from the snapshot alone.
        case effectiveFromOutOfRange, inconsistentMetadata
        // The configuration no longer matches.
        case rateCardChanged, rateCardGone, planGone, autoTopupPackGone

        var incompatible: Bool {
            switch self {
            case .newerFormat, .rateCardChanged, .rateCardGone, .planGone, .autoTopupPackGone: true
            default: false
            }
        }

        /// The reason it is refused with (the start of it, when the rest depends on the bytes).
        var reason: String {
            switch self {
            case .shorterThanTheEnvelope: "truncated (10 bytes)"
            case .notASnapshot: "not a CreditMeter snapshot"
            case .flippedByte, .lastByteCut, .versionByteFlippedInPlace: "checksum mismatch (corrupt or truncated)"
            case .versionZero: "unsupported snapshot format 0"
            case .newerFormat:
                "unsupported snapshot format \(SnapshotCodec.formatVersion + 1) (newer than this build, which reads 1…\(SnapshotCodec.formatVersion))"
            case .bodyEndsInAField: "truncated"
            case .countPastTheEnd: "count out of range"
            case .overlongVarint: "bad varint"
            case .bytesAfterTheState: "unexpected bytes after the state"
            case .badBlockKind: "bad block kind"
            case .badHistoryKind: "bad history kind"
            case .badAlertKind: "bad alert kind"
            case .planPastTheSnapshotsTable: "an account's plan reference is out of range (corrupt snapshot)"
            case .dedupeEntryTimeOutOfRange: "dedupe entry time out of range (corrupt snapshot)"
            case .effectiveFromOutOfRange: "rate-card effective_from out of range (corrupt snapshot)"
            case .inconsistentMetadata: "snapshot metadata is inconsistent: "
            case .rateCardChanged:
                "rate-card version 2026-11-01 changed content since it was used; a used version is immutable — add a new version instead"
            case .rateCardGone: "rate-card version 2026-11-01 was used but is no longer configured"
            case .planGone: "an account's plan is no longer in the price book"
            case .autoTopupPackGone: "an account's auto top-up pack pack-1000 is no longer in the price book"
            }
        }
    }

    /// Crafts the case and restores it: under the configuration it was written with, or under
    /// the changed one; `inspect`'s cases through the detached configuration.
    static func refusal(_ c: Crafted) throws -> SnapshotError? {
        let t = try state()
        let ledger = t.ledger
        let bytes = encode(ledger)
        let body = Array(bytes.dropLast(8))
        let a = try #require(ledger.account(account))
        let header = SnapshotCodec.magic.count
        let card = try #require(ledger.config.rateCards.versions.first)
        // The rate-card entry of the header: version, content hash, effective_from.
        let cardEntry = writer { $0.string(card.card.version); $0.string(card.hash); $0.svar(card.card.effectiveFrom) }
        var config = ledger.config
        var snapshot: [UInt8]
        switch c {
        case .shorterThanTheEnvelope: snapshot = Array(bytes.prefix(10))
        case .notASnapshot: snapshot = Array("hello, world, this is not a snapshot".utf8)
        case .flippedByte: snapshot = bytes; snapshot[bytes.count / 2] ^= 0x40
        case .lastByteCut: snapshot = Array(bytes.dropLast())
        case .versionByteFlippedInPlace: snapshot = bytes; snapshot[header] = SnapshotCodec.formatVersion + 1
        case .versionZero: var b = body; b[header] = 0; snapshot = sealed(b)
        case .newerFormat: var b = body; b[header] = SnapshotCodec.formatVersion + 1; snapshot = sealed(b)
        case .bodyEndsInAField:  // the topic, then nothing where the partition should be
            snapshot = sealed(body[...header] + writer { $0.string("ai.usage") })
        case .countPastTheEnd:  // a topic of 8 bytes, none of them there
            snapshot = sealed(body[...header] + [8])
        case .overlongVarint:  // a partition number of 11 varint bytes
            snapshot = sealed(body[...header] + writer { $0.string("ai.usage") } + [UInt8](repeating: 0xFF, count: 10) + [1])
        case .bytesAfterTheState: snapshot = sealed(body + [0])
        case .badBlockKind:
            let block = try #require(a.blocks.first)
            let fields = writer { $0.u8(block.kind.rawValue); $0.svar(block.remaining); $0.svar(block.expiresAt) }
            snapshot = sealed(try patched(body, fields, [0xEE] + fields.dropFirst()))
        case .badHistoryKind:
            let h = try #require(a.history.first { $0.kind == .topup })
            let fields = writer { $0.u8(h.kind.rawValue); $0.svar(h.time); $0.svar(h.credits); $0.svar(h.at) }
            snapshot = sealed(try patched(body, fields, [0xEE] + fields.dropFirst()))
        case .badAlertKind:
            let f = try #require(a.cycleAlerts.first)
            let fields = writer {
                $0.u8(f.kind.rawValue); $0.svar(f.time); $0.svar(Int64(f.threshold)); $0.svar(Int64(f.sequence)); $0.svar(Int64(f.member))
            }
            snapshot = sealed(try patched(body, fields, [0xEE] + fields.dropFirst()))
        case .planPastTheSnapshotsTable:
            let id = writer { $0.string(account) }
            snapshot = sealed(try patched(body, id + writer { $0.svar(Int64(a.plan)) }, id + writer { $0.svar(1_000) }))
        case .dedupeEntryTimeOutOfRange:
            // The last field of the body is the last dedupe entry's distance from its account's
            // clock; one that reaches before the calendar's first instant is refused.
            var start = body.count - 1
            while start > 0 && body[start - 1] & 0x80 != 0 { start -= 1 }
            snapshot = sealed(body[..<start] + writer { $0.uvar(.max) })
        case .effectiveFromOutOfRange:
            let moved = writer { $0.string(card.card.version); $0.string(card.hash); $0.svar(.max) }
            snapshot = sealed(try patched(body, cardEntry, moved))
        case .inconsistentMetadata:  // the thresholds [20, 10] written as [20, 20]
            let thresholds = writer { $0.uvar(2); $0.svar(20); $0.svar(10) }
            let twice = writer { $0.uvar(2); $0.svar(20); $0.svar(20) }
            snapshot = sealed(try patched(body, cardEntry + thresholds, cardEntry + twice))
        case .rateCardChanged:
            snapshot = bytes
            config = try Self.config(cards: { $0.replacingOccurrences(of: "chat:             { credits: 1 }", with: "chat:             { credits: 2 }") })
        case .rateCardGone:
            snapshot = bytes
            config = try Self.config(cards: { $0.replacingOccurrences(of: "version: \"2026-11-01\"", with: "version: \"2026-11-02\"") })
        case .planGone: snapshot = bytes; config = try Self.config(plans: { $0.id != "pro" })
        case .autoTopupPackGone: snapshot = bytes; config = try Self.config(packs: { $0.id != "pack-1000" })
        }
        do {
            if c == .effectiveFromOutOfRange || c == .inconsistentMetadata {
                _ = try SnapshotCodec.detachedConfiguration(snapshot)
            } else {
                _ = try SnapshotCodec.decode(snapshot, config: config)
            }
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: Crafted.allCases)
    func everyRefusalIsTypedAndKeepsItsReason(_ c: Crafted) throws {
        let error = try #require(try Self.refusal(c), "\(c): accepted")
        #expect(error.message.hasPrefix(c.reason), "\(c): \(error.message)")
        if c.incompatible {
            #expect(error == .incompatible(error.message), "\(c) is not incompatible: \(error)")
        } else {
            #expect(error == .damaged(error.message), "\(c) is not damaged: \(error)")
        }
        #expect(error.isDamaged == !c.incompatible)
        #expect(error.description == error.message)
    }

    /// The version byte sits before the checksum: changed in place (a flipped bit), it is
    /// damage, never a newer format — whichever bit of the snapshot flips, restore falls back
    /// to older state rather than refusing to start.
    @Test func noFlippedBitIsEverIncompatible() throws {
        let t = try Self.state()
        let bytes = Self.encode(t.ledger)
        var outcomes: [String: Int] = [:]
        for position in bytes.indices {
            for bit in 0..<8 {
                var b = bytes
                b[position] ^= 1 << bit
                do {
                    _ = try SnapshotCodec.decode(b, config: t.ledger.config)
                    outcomes["accepted", default: 0] += 1
                } catch {
                    outcomes[error.isDamaged ? "damaged" : "incompatible: \(error)", default: 0] += 1
                }
            }
        }
        #expect(outcomes == ["damaged": bytes.count * 8])
    }

    /// A newer format is judged on intact bytes only: one whose checksum holds is
    /// incompatible, the same bytes with a bad checksum are damaged.
    @Test func aNewerFormatIsIncompatibleOnlyWhenItsChecksumHolds() throws {
        let t = try Self.state()
        var body = Array(Self.encode(t.ledger).dropLast(8))
        body[SnapshotCodec.magic.count] = 200
        let intact = Self.sealed(body)
        #expect(throws: SnapshotError.incompatible("unsupported snapshot format 200 (newer than this build, which reads 1…\(SnapshotCodec.formatVersion))")) {
            _ = try SnapshotCodec.header(intact)
        }
        var broken = intact
        broken[broken.count - 1] ^= 1
        #expect(throws: SnapshotError.damaged("checksum mismatch (corrupt or truncated)")) { _ = try SnapshotCodec.header(broken) }
    }
}
