/// An exact decimal number as written in JSON or YAML: `±mantissa × 10^exponent`.
///
/// Amounts never pass through floating point: a number's text is read into this form and
/// then scaled to an integer unit (millicredits, micro-credits, nano-dollars) exactly, or
/// refused when it cannot be represented in that unit.
public struct ExactDecimal: Sendable, Equatable {
    public var negative: Bool
    public var mantissa: UInt64
    public var exponent: Int32

    public init(negative: Bool, mantissa: UInt64, exponent: Int32) {
        self.negative = negative
        self.mantissa = mantissa
        self.exponent = exponent
    }

    /// Parses JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    /// Returns nil for anything else, and for more than 19 significant digits.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ExactDecimal? {
        let n = bytes.count
        guard n > 0, n <= 64 else { return nil }
        var i = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") { negative = true; i = 1 }
        guard i < n else { return nil }
        var mantissa: UInt64 = 0
        var exponent: Int32 = 0
        var significant = 0
        @inline(__always) func isDigit(_ b: UInt8) -> Bool { b &- 48 < 10 }
        // Integer part.
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < n && isDigit(bytes[i]) { return nil }  // no leading zeros
        } else if isDigit(bytes[i]) {
            while i < n && isDigit(bytes[i]) {
                let d = UInt64(bytes[i] &- 48)
                if significant < 19 {
                    mantissa = mantissa &* 10 &+ d; significant += 1
                } else {
                    guard d == 0 else { return nil }  // too many significant digits
                    exponent += 1
                }
                i += 1
            }
        } else {
            return nil
        }
        // Fraction.
        if i < n && bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < n && isDigit(bytes[i]) else { return nil }
            var pendingZeros: Int32 = 0
            while i < n && isDigit(bytes[i]) {
                let d = UInt64(bytes[i] &- 48)
                if d == 0 {
                    pendingZeros += 1
                } else {
                    // flush zeros, then the digit
                    if mantissa == 0 {
                        exponent -= pendingZeros + 1
                        mantissa = d
                        significant = 1
                    } else {
                        guard significant + Int(pendingZeros) + 1 <= 19 else { return nil }
                        for _ in 0..<pendingZeros { mantissa = mantissa &* 10 }
                        mantissa = mantissa &* 10 &+ d
                        significant += Int(pendingZeros) + 1
                        exponent -= pendingZeros + 1
                    }
                    pendingZeros = 0
                }
                i += 1
            }
        }
        // Exponent.
        if i < n && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            guard i < n else { return nil }
            var expNegative = false
            if bytes[i] == UInt8(ascii: "+") { i += 1 } else if bytes[i] == UInt8(ascii: "-") { expNegative = true; i += 1 }
            guard i < n && isDigit(bytes[i]) else { return nil }
            var e: Int32 = 0
            while i < n && isDigit(bytes[i]) {
                guard e < 100_000 else { return nil }
                e = e * 10 + Int32(bytes[i] &- 48)
                i += 1
            }
            exponent += expNegative ? -e : e
        }
        guard i == n else { return nil }
        if mantissa == 0 { exponent = 0; negative = false }
        return ExactDecimal(negative: negative, mantissa: mantissa, exponent: exponent)
    }

    public static func parse(_ text: String) -> ExactDecimal? {
        var copy = text
        return copy.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    /// The value × 10^scale as an integer, if that is exact and fits in Int64.
    public func scaled(by scale: Int32) -> Int64? {
        if mantissa == 0 { return 0 }
        let e = Int(exponent) + Int(scale)
        var magnitude = mantissa
        if e >= 0 {
            guard e <= 19 else { return nil }
            for _ in 0..<e {
                let (r, o) = magnitude.multipliedReportingOverflow(by: 10)
                if o { return nil }
                magnitude = r
            }
        } else {
            guard -e <= 19 else { return nil }
            var divisor: UInt64 = 1
            for _ in 0..<(-e) { divisor *= 10 }
            guard magnitude % divisor == 0 else { return nil }  // would lose digits
            magnitude /= divisor
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// Number of digits after the decimal point in its shortest exact form.
    public var fractionDigits: Int {
        if mantissa == 0 || exponent >= 0 { return 0 }
        var m = mantissa
        var e = exponent
        while e < 0 && m % 10 == 0 { m /= 10; e += 1 }
        return Int(-e)
    }
}
