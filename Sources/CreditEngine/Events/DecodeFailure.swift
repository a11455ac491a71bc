/// Why a record could not be read. Every case names the field; `description` is the
/// human-readable reason put in the dead-letter record's `error` header.
public enum DecodeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case malformedJSON(offset: Int, StaticString)
    case notAnObject
    case duplicateKey(StaticString)
    case missing(StaticString)
    case wrongType(StaticString, expected: StaticString)
    case invalid(StaticString, StaticString)
    case unknownType
    case tooLarge(bytes: Int)
    /// A record with no value (a tombstone) or an empty one.
    case emptyValue

    public var description: String {
        switch self {
        case .malformedJSON(let offset, let what): return "malformed JSON at byte \(offset): \(what)"
        case .notAnObject: return "malformed event: the record value is not a JSON object"
        case .duplicateKey(let key): return "malformed event: duplicate key \"\(key)\""
        case .missing(let field): return "missing required field \"\(field)\""
        case .wrongType(let field, let expected): return "field \"\(field)\" must be \(expected)"
        case .invalid(let field, let why): return "field \"\(field)\" \(why)"
        case .unknownType: return "unknown event type"
        case .tooLarge(let bytes): return "record too large: \(bytes) bytes (limit 1048576)"
        case .emptyValue: return "empty record value (a tombstone or zero bytes): not an event"
        }
    }

    public static func == (a: DecodeFailure, b: DecodeFailure) -> Bool { a.description == b.description }
}
