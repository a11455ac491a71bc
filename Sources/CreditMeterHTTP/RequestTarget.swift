/// A request's target as sent (`/v1/accounts/a%2Fb/check?action=chat`): path segments kept
/// raw so that `%2F` stays inside its segment, each decoded exactly once on use; the query's
/// names and values percent-decoded (`+` is a plus sign, not a space: RFC 3339 offsets).
struct RequestTarget {
    /// The target exactly as sent (path and query), for redirects.
    let raw: String
    /// Raw (still percent-encoded) path segments; "/a/b/" gives ["a", "b", ""].
    let segments: [Substring]
    /// Decoded names and values; nil where the text was not valid percent-encoded UTF-8
    /// (a known parameter then fails validation, an unknown one is ignored: contract §11).
    let query: [(name: String?, value: String?)]

    init(_ raw: String) {
        self.raw = raw
        let pathEnd = raw.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? raw.endIndex
        let path = raw[raw.startIndex..<pathEnd]
        var segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.first == "" { segments.removeFirst() }
        self.segments = segments
        var query: [(String?, String?)] = []
        if pathEnd < raw.endIndex, raw[pathEnd] == "?" {
            let q = raw[raw.index(after: pathEnd)...].prefix { $0 != "#" }
            for pair in q.split(separator: "&", omittingEmptySubsequences: true) {
                let eq = pair.firstIndex(of: "=") ?? pair.endIndex
                let value = eq < pair.endIndex ? Self.percentDecode(pair[pair.index(after: eq)...]) : ""
                query.append((Self.percentDecode(pair[pair.startIndex..<eq]), value))
            }
        }
        self.query = query
    }

    /// The value of a query parameter (the first, when repeated); 400 when it is not valid
    /// percent-encoded UTF-8.
    func parameter(_ name: String) throws(BadRequest) -> String? {
        guard let entry = query.first(where: { $0.name == name }) else { return nil }
        guard let value = entry.value else { throw BadRequest(name, "is not valid percent-encoded UTF-8") }
        return value
    }

    /// Percent-decodes once; nil when an escape is malformed or the bytes are not UTF-8.
    static func percentDecode(_ s: Substring) -> String? {
        guard s.utf8.contains(UInt8(ascii: "%")) else { return String(s) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            if b != UInt8(ascii: "%") { bytes.append(b); continue }
            guard let h = it.next().flatMap(hex), let l = it.next().flatMap(hex) else { return nil }
            bytes.append(h << 4 | l)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A request the API refuses: 400 with the parameter named.
struct BadRequest: Error {
    let reason: String
    init(_ parameter: String, _ problem: String) { reason = "\(parameter): \(problem)" }
}

/// Parameter rules shared by every endpoint (contract §11).
enum Parameters {
    /// Integers are plain ASCII digits (`1.0`, `1e0`, `-0`, `+1` are refused), within `range`.
    static func integer(_ target: RequestTarget, _ name: String, _ range: ClosedRange<Int64>, default value: Int64?) throws(BadRequest) -> Int64? {
        guard let text = try target.parameter(name) else { return value }
        guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int64(text) else {
            throw BadRequest(name, "must be a whole number written as plain digits")
        }
        guard range.contains(v) else { throw BadRequest(name, "must be from \(range.lowerBound) to \(range.upperBound)") }
        return v
    }

    /// An account id as a path segment: decoded once, 1–128 characters.
    static func account(_ raw: Substring) throws(BadRequest) -> String {
        guard let id = RequestTarget.percentDecode(raw) else { throw BadRequest("account", "is not valid percent-encoded UTF-8") }
        let n = id.unicodeScalars.count
        guard n >= 1 && n <= 128 else { throw BadRequest("account", "must be 1 to 128 characters") }
        return id
    }

    /// A text parameter: present values must be 1–`max` characters.
    static func text(_ target: RequestTarget, _ name: String, max: Int = 128) throws(BadRequest) -> String? {
        guard let v = try target.parameter(name) else { return nil }
        let n = v.unicodeScalars.count
        guard n >= 1 && n <= max else { throw BadRequest(name, "must be 1 to \(max) characters") }
        return v
    }
}
