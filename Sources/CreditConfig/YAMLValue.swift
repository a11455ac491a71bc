import Yams
import CreditEngine

/// A YAML node with its key path, for strict reading with errors that name file and key.
struct YAMLValue {
    let node: Node
    let path: String
    let file: String

    func error(_ message: String, key: String? = nil) -> ConfigError {
        ConfigError(file: file, key: key ?? path, message)
    }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    var isNull: Bool {
        guard case .scalar(let s) = node, s.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// Reads a mapping, refusing keys not in `allowed`.
    func mapping(allowed: Set<String>) throws(ConfigError) -> [String: YAMLValue] {
        guard case .mapping(let m) = node else { throw error("must be a mapping") }
        var out: [String: YAMLValue] = [:]
        for (k, v) in m {
            guard case .scalar(let ks) = k else { throw error("has a non-text key") }
            let key = ks.string
            guard allowed.contains(key) else {
                throw error("unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))", key: child(key))
            }
            out[key] = YAMLValue(node: v, path: child(key), file: file)
        }
        return out
    }

    /// Reads a mapping whose keys are names (actions, plans …).
    func namedEntries() throws(ConfigError) -> [(String, YAMLValue)] {
        if isNull { return [] }
        guard case .mapping(let m) = node else { throw error("must be a mapping") }
        var out: [(String, YAMLValue)] = []
        for (k, v) in m {
            guard case .scalar(let ks) = k, !ks.string.isEmpty else { throw error("has an empty or non-text key") }
            out.append((ks.string, YAMLValue(node: v, path: child(ks.string), file: file)))
        }
        return out
    }

    func string() throws(ConfigError) -> String {
        guard case .scalar(let s) = node, !isNull else { throw error("must be a text value") }
        return s.string
    }

    func optionalString() throws(ConfigError) -> String? {
        isNull ? nil : try string()
    }

    func decimal() throws(ConfigError) -> ExactDecimal {
        guard case .scalar(let s) = node, !isNull else { throw error("must be a number") }
        guard let d = ExactDecimal.parse(s.string.trimmingSpaces) else { throw error("\"\(s.string)\" is not a decimal number") }
        return d
    }

    /// A non-negative decimal scaled to `scale` digits exactly.
    func scaled(_ scale: Int32, unit: String) throws(ConfigError) -> Int64 {
        let d = try decimal()
        guard !d.negative else { throw error("must not be negative") }
        guard d.fractionDigits <= Int(scale) else { throw error("has more than \(scale) fraction digits (\(unit))") }
        guard let v = d.scaled(by: scale) else { throw error("is too large") }
        return v
    }

    func integer(in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let d = try decimal()
        guard d.fractionDigits == 0, let v = d.scaled(by: 0), range.contains(Int(v)) else {
            throw error("must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(v)
    }

    func time() throws(ConfigError) -> Int64 {
        let text = try string()
        guard let t = EventTime.parse(text) else { throw error("\"\(text)\" is not an RFC 3339 time") }
        return t
    }

    func sequence() throws(ConfigError) -> [YAMLValue] {
        guard case .sequence(let seq) = node else { throw error("must be a list") }
        return seq.enumerated().map { YAMLValue(node: $0.element, path: "\(path)[\($0.offset)]", file: file) }
    }

    static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLValue {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, key: "", "is empty")
            }
            return YAMLValue(node: node, path: "", file: file)
        } catch let e as ConfigError {
            throw e
        } catch let e as YamlError {
            throw ConfigError(file: file, key: "", "invalid YAML: \(Self.oneLine(e))")
        } catch {
            throw ConfigError(file: file, key: "", "invalid YAML: \(error)")
        }
    }

    private static func oneLine(_ e: YamlError) -> String {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "\(problem) at line \(mark.line), column \(mark.column)"
        case .duplicatedKeysInMapping(let duplicates, _):
            return "duplicate keys \(duplicates.joined(separator: ", "))"
        default:
            return String(describing: e).split(separator: "\n").first.map(String.init) ?? "unreadable"
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
