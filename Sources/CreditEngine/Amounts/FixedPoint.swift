/// Formatting of fixed-point integers as exact decimal text (JSON numbers, report columns).
public enum FixedPoint {
    /// Appends `value / 10^scale` as the shortest exact decimal: 12500 (scale 3) → `12.5`.
    public static func append(_ value: Int64, scale: Int, to out: inout [UInt8], minFractionDigits: Int = 0) {
        var magnitude = value.magnitude
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var divisor: UInt64 = 1
        for _ in 0..<scale { divisor *= 10 }
        let whole = magnitude / divisor
        magnitude %= divisor
        appendUnsigned(whole, to: &out)
        if scale == 0 { return }
        // Fraction digits, trailing zeros trimmed down to minFractionDigits.
        var digits = [UInt8](repeating: 48, count: scale)
        var f = magnitude
        var k = scale - 1
        while k >= 0 { digits[k] = UInt8(48 + f % 10); f /= 10; k -= 1 }
        var last = scale
        while last > minFractionDigits && digits[last - 1] == 48 { last -= 1 }
        if last > 0 {
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: digits[0..<last])
        }
    }

    public static func string(_ value: Int64, scale: Int, minFractionDigits: Int = 0) -> String {
        var out: [UInt8] = []
        append(value, scale: scale, to: &out, minFractionDigits: minFractionDigits)
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    public static func appendUnsigned(_ value: UInt64, to out: inout [UInt8]) {
        if value < 10 { out.append(UInt8(48 + value)); return }
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes ≥ 20 digits
        var v = value
        var count = 0
        withUnsafeMutableBytes(of: &buffer) { raw in
            while v > 0 { raw[23 - count] = UInt8(48 + v % 10); v /= 10; count += 1 }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(24 - count)...]))
        }
    }

    public static func appendSigned(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        appendUnsigned(value.magnitude, to: &out)
    }
}
