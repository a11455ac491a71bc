/// UTF-8 validation on raw bytes (contract §7: invalid UTF-8, encoded surrogates included, is
/// bad input).
///
/// Fast path: a whole 8-byte word with no byte ≥ 0x80 is ASCII, valid on its own and eight
/// scalars, so both functions step over such words with one load and one mask test. Loads
/// stay inside the buffer (`i + 8 <= n`); the bytes after the last whole word go byte by byte.
enum UTF8Check {
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = bytes.count
        guard let base = bytes.baseAddress else { return true }
        while i < n {
            if i + 8 <= n && base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & highs == 0 { i += 8; continue }
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int
            var minScalar: UInt32
            var scalar: UInt32
            switch b0 {
            case 0xC2...0xDF: length = 2; scalar = UInt32(b0 & 0x1F); minScalar = 0x80
            case 0xE0...0xEF: length = 3; scalar = UInt32(b0 & 0x0F); minScalar = 0x800
            case 0xF0...0xF4: length = 4; scalar = UInt32(b0 & 0x07); minScalar = 0x10000
            default: return false
            }
            guard i + length <= n else { return false }
            for k in 1..<length {
                let b = bytes[i + k]
                guard b & 0xC0 == 0x80 else { return false }
                scalar = scalar << 6 | UInt32(b & 0x3F)
            }
            guard scalar >= minScalar, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return false }
            minScalar = 0
            i += length
        }
        return true
    }

    /// Unicode scalars in valid UTF-8: the bytes that are not continuation bytes (10xxxxxx).
    /// Per word, a continuation byte is one with bit 7 set and bit 6 clear: `w & ~(w << 1)`
    /// puts each byte's bit 6 (inverted) under its own bit 7; bit 7 of a byte shifted into the
    /// next byte's bit 0 is masked away by `highs`.
    static func scalarCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = bytes.count
        guard let base = bytes.baseAddress else { return 0 }
        var c = 0
        var i = 0
        while i + 8 <= n {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            c += 8 - (w & ~(w << 1) & highs).nonzeroBitCount
            i += 8
        }
        while i < n {
            if bytes[i] & 0xC0 != 0x80 { c += 1 }
            i += 1
        }
        return c
    }
}
