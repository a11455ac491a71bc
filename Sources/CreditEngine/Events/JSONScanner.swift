/// A zero-copy JSON tokenizer over a record's bytes. Strings come back as views into the
/// record; only strings with escapes are decoded, into a scratch buffer the caller sized to
/// at least the record's length (so views never move while an event is being read).
@usableFromInline
struct JSONScanner {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let end: Int
    @usableFromInline var pos: Int
    @usableFromInline let scratch: UnsafeMutablePointer<UInt8>
    @usableFromInline var scratchUsed: Int
    /// Nesting level of the object whose members are being read (the event object is 1).
    /// `skipValue` refuses containers deeper than `maxDepth` levels (contract §7, v2).
    @usableFromInline var level: Int = 1
    @usableFromInline static let maxDepth = 64

    @usableFromInline
    init(_ bytes: UnsafeRawBufferPointer, start: Int = 0, end: Int? = nil, scratch: UnsafeMutablePointer<UInt8>, scratchUsed: Int = 0) {
        self.base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        self.end = end ?? bytes.count
        self.pos = start
        self.scratch = scratch
        self.scratchUsed = scratchUsed
    }

    @inline(__always) @usableFromInline
    func fail(_ what: StaticString) -> DecodeFailure { .malformedJSON(offset: pos, what) }

    /// A value of the wrong type — or, at the end of the input, a truncated record.
    @usableFromInline
    mutating func typeError(_ field: StaticString, expected: StaticString) -> DecodeFailure {
        skipWhitespace()
        return pos >= end ? .malformedJSON(offset: pos, "unexpected end of input") : .wrongType(field, expected: expected)
    }

    @inline(__always) @usableFromInline
    mutating func skipWhitespace() {
        // Compact JSON: the next byte is almost always significant.
        if pos < end && base[pos] > 0x20 { return }
        while pos < end {
            let b = base[pos]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 } else { return }
        }
    }

    @inline(__always) @usableFromInline
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return pos < end ? base[pos] : nil
    }

    @inline(__always) @usableFromInline
    mutating func expect(_ byte: UInt8, _ what: StaticString) throws(DecodeFailure) {
        skipWhitespace()
        guard pos < end, base[pos] == byte else { throw fail(what) }
        pos += 1
    }

    /// Reads a string (the opening quote must be next) and returns its decoded bytes.
    @inline(__always) @usableFromInline
    mutating func readString() throws(DecodeFailure) -> UnsafeRawBufferPointer {
        skipWhitespace()
        guard pos < end, base[pos] == UInt8(ascii: "\"") else { throw fail("expected a string") }
        pos += 1
        let start = pos
        var highBit = false
        // Eight bytes at a time while none is a quote, a backslash, a control or non-ASCII byte;
        // then straight to the first such byte (the lowest flagged byte of the SWAR test is
        // always a true one: its false positives only sit above a true one).
        while pos + 8 <= end {
            let w = UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self)
            let m = Self.needsAttention(w)
            if m != 0 { pos += m.trailingZeroBitCount >> 3; break }
            pos += 8
        }
        while pos < end {
            let b = base[pos]
            if b == UInt8(ascii: "\"") {
                let view = UnsafeRawBufferPointer(start: base + start, count: pos - start)
                pos += 1
                if highBit && !UTF8Check.isValid(view) { throw fail("invalid UTF-8 in string") }
                return view
            }
            if b == UInt8(ascii: "\\") { return try readEscapedString(from: start) }
            if b < 0x20 { throw fail("control character in string") }
            if b >= 0x80 { highBit = true }
            pos += 1
        }
        throw fail("unterminated string")
    }

    /// Non-zero when any byte of `w` is '"', '\\', < 0x20 or ≥ 0x80 (SWAR).
    @inline(__always) @usableFromInline
    static func needsAttention(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (ones &* 0x22)
        let backslash = w ^ (ones &* 0x5C)
        let hasQuote = (quote &- ones) & ~quote & highs
        let hasBackslash = (backslash &- ones) & ~backslash & highs
        let hasControl = (w &- ones &* 0x20) & ~w & highs
        return hasQuote | hasBackslash | hasControl | (w & highs)
    }

    @usableFromInline
    mutating func readEscapedString(from start: Int) throws(DecodeFailure) -> UnsafeRawBufferPointer {
        let outStart = scratchUsed
        var out = outStart
        // copy the plain prefix
        for i in start..<pos { scratch[out] = base[i]; out += 1 }
        while pos < end {
            let b = base[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                scratchUsed = out
                let view = UnsafeRawBufferPointer(start: scratch + outStart, count: out - outStart)
                if !UTF8Check.isValid(view) { throw fail("invalid UTF-8 in string") }
                return view
            }
            if b < 0x20 { throw fail("control character in string") }
            if b != UInt8(ascii: "\\") { scratch[out] = b; out += 1; pos += 1; continue }
            pos += 1
            guard pos < end else { break }
            let e = base[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): scratch[out] = 0x22; out += 1
            case UInt8(ascii: "\\"): scratch[out] = 0x5C; out += 1
            case UInt8(ascii: "/"): scratch[out] = 0x2F; out += 1
            case UInt8(ascii: "b"): scratch[out] = 0x08; out += 1
            case UInt8(ascii: "f"): scratch[out] = 0x0C; out += 1
            case UInt8(ascii: "n"): scratch[out] = 0x0A; out += 1
            case UInt8(ascii: "r"): scratch[out] = 0x0D; out += 1
            case UInt8(ascii: "t"): scratch[out] = 0x09; out += 1
            case UInt8(ascii: "u"):
                var scalar = try readHex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // a high surrogate must be followed by \u low surrogate
                    guard pos + 1 < end, base[pos] == UInt8(ascii: "\\"), base[pos + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    pos += 2
                    let low = try readHex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw fail("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw fail("unpaired surrogate in \\u escape")
                }
                // UTF-8 encode (never longer than the 6+ bytes of its escape)
                if scalar < 0x80 {
                    scratch[out] = UInt8(scalar); out += 1
                } else if scalar < 0x800 {
                    scratch[out] = UInt8(0xC0 | (scalar >> 6)); scratch[out + 1] = UInt8(0x80 | (scalar & 0x3F)); out += 2
                } else if scalar < 0x10000 {
                    scratch[out] = UInt8(0xE0 | (scalar >> 12)); scratch[out + 1] = UInt8(0x80 | ((scalar >> 6) & 0x3F))
                    scratch[out + 2] = UInt8(0x80 | (scalar & 0x3F)); out += 3
                } else {
                    scratch[out] = UInt8(0xF0 | (scalar >> 18)); scratch[out + 1] = UInt8(0x80 | ((scalar >> 12) & 0x3F))
                    scratch[out + 2] = UInt8(0x80 | ((scalar >> 6) & 0x3F)); scratch[out + 3] = UInt8(0x80 | (scalar & 0x3F)); out += 4
                }
            default:
                throw fail("invalid escape in string")
            }
        }
        throw fail("unterminated string")
    }

    @usableFromInline
    mutating func readHex4() throws(DecodeFailure) -> UInt32 {
        guard pos + 4 <= end else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = base[pos]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    /// Reads a number token and returns its raw text (validated later by `ExactDecimal`).
    @inline(__always) @usableFromInline
    mutating func readNumberText() throws(DecodeFailure) -> UnsafeRawBufferPointer {
        skipWhitespace()
        let start = pos
        while pos < end {
            let b = base[pos]
            if (b >= 48 && b <= 57) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") || b == UInt8(ascii: ".")
                || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") { pos += 1 } else { break }
        }
        guard pos > start else { throw fail("expected a number") }
        return UnsafeRawBufferPointer(start: base + start, count: pos - start)
    }

    /// Reads an integer field (contract §7, v2: integers are plain digits). Returns nil for a
    /// valid JSON number that is not written as an integer (`1.0`, `1e0`, `-0`); saturates
    /// at ±Int64.max for more digits than fit, so callers report "absurdly large".
    /// Throws for text that is not JSON number grammar.
    @inline(__always) @usableFromInline
    mutating func readInteger() throws(DecodeFailure) -> Int64? {
        let text = try readNumberText()
        var value: Int64 = 0
        var simple = text.count <= 18 && text[0] != UInt8(ascii: "0") || text.count == 1
        if simple {
            for b in text {
                let d = b &- 48
                if d >= 10 { simple = false; break }
                value = value &* 10 &+ Int64(d)
            }
        }
        if simple { return value }
        return try readIntegerSlow(text)
    }

    @usableFromInline
    func readIntegerSlow(_ text: UnsafeRawBufferPointer) throws(DecodeFailure) -> Int64? {
        guard JSONScanner.isValidNumberGrammar(text) else { throw fail("invalid number") }
        var i = 0
        let negative = text[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        var magnitude: UInt64 = 0
        var saturated = false
        while i < text.count {
            let d = text[i] &- 48
            guard d < 10 else { return nil }  // a fraction or an exponent
            if !saturated {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(d))
                if o1 || o2 || m2 > UInt64(Int64.max) { saturated = true } else { magnitude = m2 }
            }
            i += 1
        }
        if negative && magnitude == 0 && !saturated { return nil }  // `-0`
        let v = saturated ? Int64.max : Int64(magnitude)
        return negative ? -v : v
    }

    @inline(__always) @usableFromInline
    mutating func readLiteral(_ word: StaticString) -> Bool {
        skipWhitespace()
        let n = word.utf8CodeUnitCount
        guard pos + n <= end else { return false }
        if memcmpBytes(base + pos, UnsafeRawPointer(word.utf8Start), n) {
            pos += n
            return true
        }
        return false
    }

    /// True (and consumed) when the next value is `null`.
    @inline(__always) @usableFromInline
    mutating func readNull() -> Bool {
        peek() == UInt8(ascii: "n") && readLiteral("null")
    }

    /// Skips any JSON value, validating it.
    /// `depth` counts the containers entered below `level`; a container opened here sits at
    /// level `level + depth + 1`, refused beyond `maxDepth` (so 100k-deep input stops early).
    @usableFromInline
    mutating func skipValue(depth: Int = 0) throws(DecodeFailure) {
        guard let b = peek() else { throw fail("expected a value") }
        if (b == UInt8(ascii: "{") || b == UInt8(ascii: "[")) && level + depth + 1 > JSONScanner.maxDepth {
            throw fail("JSON nested deeper than 64 levels")
        }
        switch b {
        case UInt8(ascii: "\""):
            let saved = scratchUsed
            _ = try readString()
            scratchUsed = saved
        case UInt8(ascii: "{"):
            pos += 1
            if peek() == UInt8(ascii: "}") { pos += 1; return }
            while true {
                let saved = scratchUsed
                _ = try readString()
                scratchUsed = saved
                try expect(UInt8(ascii: ":"), "expected ':'")
                try skipValue(depth: depth + 1)
                guard let c = peek() else { throw fail("unterminated object") }
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { return }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            pos += 1
            if peek() == UInt8(ascii: "]") { pos += 1; return }
            while true {
                try skipValue(depth: depth + 1)
                guard let c = peek() else { throw fail("unterminated array") }
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { return }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "t"):
            guard readLiteral("true") else { throw fail("invalid literal") }
        case UInt8(ascii: "f"):
            guard readLiteral("false") else { throw fail("invalid literal") }
        case UInt8(ascii: "n"):
            guard readLiteral("null") else { throw fail("invalid literal") }
        default:
            let text = try readNumberText()
            guard ExactDecimal.parse(text) != nil || JSONScanner.isValidNumberGrammar(text) else { throw fail("invalid number") }
        }
    }

    /// JSON number grammar check for numbers too long for ExactDecimal (skipped values only).
    static func isValidNumberGrammar(_ t: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = t.count
        @inline(__always) func digits() -> Int { let s = i; while i < n, t[i] &- 48 < 10 { i += 1 }; return i - s }
        if i < n && t[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n else { return false }
        if t[i] == UInt8(ascii: "0") { i += 1 } else if digits() == 0 { return false }
        if i < n && t[i] == UInt8(ascii: ".") { i += 1; if digits() == 0 { return false } }
        if i < n && (t[i] == UInt8(ascii: "e") || t[i] == UInt8(ascii: "E")) {
            i += 1
            if i < n && (t[i] == UInt8(ascii: "+") || t[i] == UInt8(ascii: "-")) { i += 1 }
            if digits() == 0 { return false }
        }
        return i == n
    }

    /// After an array element: true if another element follows, false at the closing bracket.
    @inline(__always) @usableFromInline
    mutating func nextElement() throws(DecodeFailure) -> Bool {
        guard let c = peek() else { throw fail("unterminated array") }
        pos += 1
        if c == UInt8(ascii: ",") { return true }
        if c == UInt8(ascii: "]") { return false }
        throw fail("expected ',' or ']'")
    }

    /// After a member value: true if another member follows, false at the closing brace.
    @inline(__always) @usableFromInline
    mutating func nextMember() throws(DecodeFailure) -> Bool {
        guard let c = peek() else { throw fail("unterminated object") }
        pos += 1
        if c == UInt8(ascii: ",") { return true }
        if c == UInt8(ascii: "}") { return false }
        throw fail("expected ',' or '}'")
    }
}
