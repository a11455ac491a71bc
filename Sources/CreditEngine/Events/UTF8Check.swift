/// UTF-8 validation on raw bytes (contract §7: invalid UTF-8, encoded surrogates included, is
/// bad input).
enum UTF8Check {
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
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

    /// Unicode scalars in valid UTF-8.
    static func scalarCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        var c = 0
        for b in bytes where b & 0xC0 != 0x80 { c += 1 }
        return c
    }
}
