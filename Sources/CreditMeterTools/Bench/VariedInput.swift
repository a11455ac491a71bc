import CreditEngine
import Foundation

/// The same events as the generator's, re-encoded four ways, one record in four each, so that a
/// decode figure is not flattered by one key order: shuffled keys at both levels (and `data`
/// before `type` now and then: the decoder's skip-then-rescan path); escaped strings (`\u00XX`,
/// `\/`); unknown extension attributes (strings, a nested object and array) with pretty
/// printing; binary mode (`data` as the value, the attributes as `ce_*` headers).
struct VariedRecord {
    /// Structured mode: the whole event. Binary mode: `data` only.
    var value: [UInt8]
    /// Binary mode only: the header values, one buffer, and their ranges
    /// (specversion, id, source, type, subject, time).
    var headers: [UInt8] = []
    var ranges: [Range<Int>] = []
    var binary: Bool { !ranges.isEmpty }

    /// Decodes in the record's mode.
    @inline(__always)
    func decode(_ decoder: EventDecoder) -> DecodedEvent? {
        value.withUnsafeBytes { v in
            if !binary { return try? decoder.decode(v) }
            return headers.withUnsafeBytes { h in
                var a = BinaryModeAttributes()
                a.specversion = UnsafeRawBufferPointer(rebasing: h[ranges[0]])
                a.id = UnsafeRawBufferPointer(rebasing: h[ranges[1]])
                a.source = UnsafeRawBufferPointer(rebasing: h[ranges[2]])
                a.type = UnsafeRawBufferPointer(rebasing: h[ranges[3]])
                a.subject = UnsafeRawBufferPointer(rebasing: h[ranges[4]])
                a.time = UnsafeRawBufferPointer(rebasing: h[ranges[5]])
                return try? decoder.decode(v, binary: a)
            }
        }
    }

    /// Re-encodes one generator record (a flat CloudEvent with an object `data`).
    static func make(_ original: [UInt8], variant: Int, seed: UInt64) -> VariedRecord? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(original)) as? [String: Any],
              let data = object["data"] as? [String: Any] else { return nil }
        var rng = SplitMix64(seed: seed)  // the workload's generator: the varied input is the same on every run
        func shuffled(_ keys: [String]) -> [String] {
            var k = keys.sorted()
            k.shuffle(using: &rng)
            return k
        }
        func scalar(_ v: Any, escape: Bool) -> String {
            if let s = v as? String { return quoted(s, escape: escape) }
            if let n = v as? NSNumber { return n.stringValue }
            return "null"
        }
        func quoted(_ s: String, escape: Bool) -> String {
            guard escape, let first = s.unicodeScalars.first, first.isASCII else { return "\"\(s)\"" }
            let hex = String(first.value, radix: 16)
            let rest = String(s.unicodeScalars.dropFirst()).replacingOccurrences(of: "/", with: "\\/")
            return "\"\\u" + String(repeating: "0", count: 4 - hex.count) + hex + rest + "\""
        }
        func dataJSON(escape: Bool, sep: String) -> String {
            "{" + shuffled(Array(data.keys)).map { "\"\($0)\":\(sep)" + scalar(data[$0]!, escape: escape) }.joined(separator: ",\(sep)") + "}"
        }
        let top = object.keys.filter { $0 != "data" }
        switch variant {
        case 0, 1, 2:
            let escape = variant == 1
            let sep = variant == 2 ? "\n  " : ""
            var members = top.map { "\"\($0)\":\(sep)" + scalar(object[$0]!, escape: escape) }
            if variant == 2 {
                members.append("\"datacontenttype\": \"application/json\"")
                members.append("\"traceparent\": \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"")
                members.append("\"partitionkey\": \"\(object["subject"] as? String ?? "")\"")
                members.append("\"x-extension\": {\"tags\": [\"a\", \"b\", 3, true, null], \"nested\": {\"k\": 1.5e3}}")
            }
            members.shuffle(using: &rng)
            // `data` anywhere, sometimes before `type` (decoded after a skip, from its span).
            let at = Int(rng.next() % UInt64(members.count + 1))
            members.insert("\"data\":\(sep)" + dataJSON(escape: escape, sep: sep), at: at)
            return VariedRecord(value: Array(("{" + sep + members.joined(separator: "," + sep) + sep + "}").utf8))
        default:
            var headers: [UInt8] = []
            var ranges: [Range<Int>] = []
            for name in ["specversion", "id", "source", "type", "subject", "time"] {
                let start = headers.count
                headers.append(contentsOf: Array((object[name] as? String ?? "").utf8))
                ranges.append(start..<headers.count)
            }
            return VariedRecord(value: Array(dataJSON(escape: false, sep: "").utf8), headers: headers, ranges: ranges)
        }
    }
}
