/// An independent, deliberately plain JSON parser (RFC 8259) used as the oracle for
/// differential fuzzing of the zero-copy `EventDecoder`. Written for obviousness, not speed:
/// recursive descent over a byte array, an explicit nesting limit of 64 levels (the outermost
/// value is level 1), strict UTF-8 per RFC 3629 §4, escapes with surrogate pairs.
/// Shares no code with `JSONScanner`.
enum RefJSON: Equatable {
    case null
    case bool(Bool)
    /// The number's exact source text (grammar checked).
    case number([UInt8])
    /// Decoded UTF-8 bytes.
    case string([UInt8])
    case array([RefJSON])
    /// Members in source order; duplicates kept (RFC 8259 allows them).
    case object([(key: [UInt8], value: RefJSON)])

    static func == (a: RefJSON, b: RefJSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    struct ParseError: Error { let offset: Int; let what: String }

    static let maxDepth = 64

    static func parse(_ bytes: [UInt8]) throws(ParseError) -> RefJSON {
        var p = Parser(bytes: bytes)
        p.whitespace()
        let v = try p.value(level: 1)
        p.whitespace()
        guard p.i == bytes.count else { throw ParseError(offset: p.i, what: "trailing bytes") }
        return v
    }

    struct Parser {
        let bytes: [UInt8]
        var i = 0

        func error(_ what: String) -> ParseError { ParseError(offset: i, what: what) }

        mutating func whitespace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }

        /// `level`: the nesting level a container starting here would have.
        mutating func value(level: Int) throws(ParseError) -> RefJSON {
            guard i < bytes.count else { throw error("expected a value") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                guard level <= RefJSON.maxDepth else { throw error("too deep") }
                i += 1
                var members: [(key: [UInt8], value: RefJSON)] = []
                whitespace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    whitespace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a key") }
                    let key = try string()
                    whitespace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    i += 1
                    whitespace()
                    let v = try value(level: level + 1)
                    members.append((key, v))
                    whitespace()
                    guard i < bytes.count else { throw error("unterminated object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                guard level <= RefJSON.maxDepth else { throw error("too deep") }
                i += 1
                var items: [RefJSON] = []
                whitespace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    whitespace()
                    items.append(try value(level: level + 1))
                    whitespace()
                    guard i < bytes.count else { throw error("unterminated array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true"); return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false"); return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null"); return .null
            default:
                return .number(try number())
            }
        }

        mutating func literal(_ word: String) throws(ParseError) {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw error("bad literal") }
            i += w.count
        }

        static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

        /// number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT )
        mutating func number() throws(ParseError) -> [UInt8] {
            let start = i
            if i < bytes.count && bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, Self.isDigit(bytes[i]) else { throw error("bad number") }
            if bytes[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                while i < bytes.count && Self.isDigit(bytes[i]) { i += 1 }
            }
            if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
                i += 1
                guard i < bytes.count, Self.isDigit(bytes[i]) else { throw error("bad fraction") }
                while i < bytes.count && Self.isDigit(bytes[i]) { i += 1 }
            }
            if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
                i += 1
                if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
                guard i < bytes.count, Self.isDigit(bytes[i]) else { throw error("bad exponent") }
                while i < bytes.count && Self.isDigit(bytes[i]) { i += 1 }
            }
            return Array(bytes[start..<i])
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard i + 4 <= bytes.count else { throw error("short \\u") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                if c >= 0x30 && c <= 0x39 { d = UInt32(c - 0x30) }
                else if c >= 0x41 && c <= 0x46 { d = UInt32(c - 0x41 + 10) }
                else if c >= 0x61 && c <= 0x66 { d = UInt32(c - 0x61 + 10) }
                else { throw error("bad hex digit") }
                v = v * 16 + d
                i += 1
            }
            return v
        }

        static func encode(_ scalar: UInt32, into out: inout [UInt8]) {
            // Swift's own encoder, independent of the decoder's hand-written one.
            out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
        }

        /// One UTF-8 sequence per RFC 3629 §4's table of well-formed byte sequences.
        mutating func utf8Sequence(into out: inout [UInt8]) throws(ParseError) {
            let b0 = bytes[i]
            func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
                i + k < bytes.count && bytes[i + k] >= lo && bytes[i + k] <= hi
            }
            let n: Int
            switch b0 {
            case 0xC2...0xDF: guard cont(1) else { throw error("bad UTF-8") }; n = 2
            case 0xE0: guard cont(1, 0xA0, 0xBF), cont(2) else { throw error("bad UTF-8") }; n = 3
            case 0xE1...0xEC, 0xEE...0xEF: guard cont(1), cont(2) else { throw error("bad UTF-8") }; n = 3
            case 0xED: guard cont(1, 0x80, 0x9F), cont(2) else { throw error("bad UTF-8") }; n = 3
            case 0xF0: guard cont(1, 0x90, 0xBF), cont(2), cont(3) else { throw error("bad UTF-8") }; n = 4
            case 0xF1...0xF3: guard cont(1), cont(2), cont(3) else { throw error("bad UTF-8") }; n = 4
            case 0xF4: guard cont(1, 0x80, 0x8F), cont(2), cont(3) else { throw error("bad UTF-8") }; n = 4
            default: throw error("bad UTF-8")
            }
            out.append(contentsOf: bytes[i..<(i + n)])
            i += n
        }

        mutating func string() throws(ParseError) -> [UInt8] {
            i += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw error("unterminated string") }
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { i += 1; return out }
                if b < 0x20 { throw error("control character") }
                if b >= 0x80 { try utf8Sequence(into: &out); continue }
                if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
                i += 1
                guard i < bytes.count else { throw error("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    let u = try hex4()
                    if u >= 0xD800 && u <= 0xDBFF {
                        guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw error("lone high surrogate")
                        }
                        i += 2
                        let lo = try hex4()
                        guard lo >= 0xDC00 && lo <= 0xDFFF else { throw error("lone high surrogate") }
                        Self.encode(0x10000 + (u - 0xD800) * 0x400 + (lo - 0xDC00), into: &out)
                    } else if u >= 0xDC00 && u <= 0xDFFF {
                        throw error("lone low surrogate")
                    } else {
                        Self.encode(u, into: &out)
                    }
                default:
                    throw error("bad escape")
                }
            }
        }
    }
}
