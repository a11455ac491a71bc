import CreditEngine

extension SnapshotError {
    /// True when the bytes themselves are bad (as opposed to a configuration mismatch).
    var isDamage: Bool {
        ["checksum", "truncated", "not a CreditMeter", "unsupported snapshot format", "bad varint", "out of range",
         "bad block kind", "corrupt snapshot", "unexpected bytes after", "conservation invariant"]
            .contains { message.contains($0) }
    }
}
