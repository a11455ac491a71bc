/// Keeps secrets out of every log line and error that passes through the Kafka edge:
/// librdkafka's own log lines (including its `debug=conf` configuration dumps), its error
/// callback, and the errors it returns for bad properties. Contract §11: passwords and
/// tokens never appear in a log line, a metric label or an error.
///
/// Two rules, both applied: every *value* of a sensitive property is replaced wherever it
/// appears, and any `name=value` / `name: value` pair whose name is sensitive has its value
/// replaced (for secrets this process never saw, e.g. in a JAAS string).
public struct Redactor: Sendable {
    public static let mask = "[redacted]"

    /// Property names that hold secrets (librdkafka and Java-client spellings).
    public static func isSensitive(_ name: String) -> Bool {
        let n = name.lowercased()
        return ["password", "secret", "jaas", "token", "credential", "private", "api.key", "apikey"].contains { n.contains($0) }
            || n == "ssl_key" || n == "sasl.oauthbearer.config" || n.hasSuffix(".key.pem")
    }

    private let secrets: [String]

    private init(secrets: [String]) {
        // Longest first, so a secret that contains another is masked whole. Values of 1–2
        // characters are masked too: a weak secret is still a secret.
        self.secrets = Array(Set(secrets.filter { !$0.isEmpty })).sorted { $0.count > $1.count }
    }

    /// The secrets among librdkafka properties.
    public init(properties: [(String, String)]) {
        var values = properties.filter { Self.isSensitive($0.0) }.map(\.1)
        // The pieces of a JAAS line: `… username="u" password="p";`
        for (name, value) in properties where name.lowercased().contains("jaas") {
            values += Self.quotedValues(in: value)
        }
        self.init(secrets: values)
    }

    public static let none = Redactor(secrets: [])

    public func callAsFunction(_ text: String) -> String {
        var out = text
        for s in secrets where out.contains(s) {
            out = out.replacing(s, with: Self.mask)
        }
        return Self.maskPairs(out)
    }

    private static func quotedValues(in jaas: String) -> [String] {
        var values: [String] = []
        var rest = Substring(jaas)
        while let eq = rest.firstIndex(of: "=") {
            let after = rest[rest.index(after: eq)...].drop { $0 == " " }
            if after.first == "\"", let close = after.dropFirst().firstIndex(of: "\"") {
                values.append(String(after[after.index(after: after.startIndex)..<close]))
                rest = after[after.index(after: close)...]
            } else {
                rest = after
            }
        }
        return values
    }

    /// `name=value`, `name = value`, `name: value`, `"name": "value"` with a sensitive name.
    private static func maskPairs(_ text: String) -> String {
        let chars = Array(text)
        var out = ""
        out.reserveCapacity(chars.count)
        var i = 0
        while i < chars.count {
            // Find a name: [A-Za-z0-9._-]+ optionally quoted.
            let isNameChar: (Character) -> Bool = { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" }
            guard isNameChar(chars[i]), i == 0 || !isNameChar(chars[i - 1]) else { out.append(chars[i]); i += 1; continue }
            var j = i
            while j < chars.count && isNameChar(chars[j]) { j += 1 }
            let name = String(chars[i..<j])
            out += name
            i = j
            guard isSensitive(name) else { continue }
            var k = j
            if k < chars.count && chars[k] == "\"" { k += 1 }
            while k < chars.count && chars[k] == " " { k += 1 }
            guard k < chars.count, chars[k] == "=" || chars[k] == ":" else { continue }
            k += 1
            while k < chars.count && chars[k] == " " { k += 1 }
            out += String(chars[j..<k])
            // The value: quoted, or up to whitespace / comma / semicolon / closing brace.
            if k < chars.count && chars[k] == "\"" {
                var e = k + 1
                while e < chars.count && chars[e] != "\"" { e += 1 }
                out += "\"" + mask + (e < chars.count ? "\"" : "")
                i = min(e + 1, chars.count)
            } else {
                var e = k
                while e < chars.count && !" ,;}\n\t".contains(chars[e]) { e += 1 }
                if e > k && String(chars[k..<e]) != mask { out += mask } else { out += String(chars[k..<e]) }
                i = e
            }
        }
        return out
    }
}
