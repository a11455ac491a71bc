import CreditEngine
import CreditMeterService
import Foundation
import Synchronization

/// The hold events the HTTP routes produce (contract §15), built and checked here: the
/// request's JSON becomes the event's `data` verbatim, and the event is decoded by the engine's
/// own `EventDecoder` before anything is produced — so HTTP and the log can never disagree on
/// what is valid. A refusal is a 400 naming the field.
enum HoldEvents {
    /// A hold event made from a request, and what the routes read from it.
    struct Event {
        /// The CloudEvent as produced (structured mode).
        var value: [UInt8]
        var id: String
        var time: Int64
        var holdID: String
        /// `DecodedEvent.holdRequestFingerprint` (requests only).
        var fingerprint: UInt64
    }

    /// Builds the event of `type` for `account` with `data` and checks it as the loop will
    /// read it: `data` must be exactly one JSON object (the engine's binary-mode reading of
    /// `data`), then the whole event is decoded. `inspect` sees the decoded event (its views
    /// are valid only inside). `prefix`: bytes the route put before the caller's own (their
    /// offsets in a JSON error are the caller's).
    static func make(_ type: EventType, account: String, data: [UInt8], time: Int64, prefix: Int = 0,
                     inspect: (DecodedEvent) throws(BadRequest) -> Void = { _ throws(BadRequest) in }) throws(BadRequest) -> Event {
        let id = UUID().uuidString.lowercased()
        let envelope = CloudEventEnvelope(id: id, source: HoldGateway.source, type: type.name, subject: account, time: time)
        let value = envelope.json(rawData: data)
        let attributes = Attributes(id: id, type: type.name, subject: account, time: EventTime.format(time))
        return try decoders.withDecoder { decoder throws(BadRequest) -> Event in
            do throws(DecodeFailure) {
                try attributes.withAttributes { a throws(DecodeFailure) in
                    try withBytes(data) { d throws(DecodeFailure) in _ = try decoder.decode(d, binary: a) }
                }
            } catch {
                throw badRequest(error, prefix: prefix)
            }
            return try withBytes(value) { v throws(BadRequest) -> Event in
                let e: DecodedEvent
                do throws(DecodeFailure) { e = try decoder.decode(v) } catch { throw badRequest(error, prefix: prefix) }
                try inspect(e)
                return Event(value: value, id: id, time: time, holdID: String(decoding: e.holdID!, as: UTF8.self),
                             fingerprint: type == .holdRequested ? e.holdRequestFingerprint : 0)
            }
        }
    }

    /// The 400 for a refusal: the field named without its `data.` prefix (`credits: must be
    /// greater than 0`); what concerns the whole body names `body`, the subject `account`.
    static func badRequest(_ failure: DecodeFailure, prefix: Int = 0) -> BadRequest {
        func field(_ name: StaticString) -> String {
            let text = "\(name)"
            if text.hasPrefix("data.") { return String(text.dropFirst(5)) }
            return text == "subject" || text == "ce_subject" ? "account" : "body"
        }
        func prose(_ why: StaticString) -> String { "\(why)".replacingOccurrences(of: "data.", with: "") }
        switch failure {
        case .missing(let name): return BadRequest(field(name), "is required")
        case .wrongType(let name, _) where "\(name)" == "data": return BadRequest("body", "must be a JSON object")
        case .wrongType(let name, let expected): return BadRequest(field(name), "must be \(prose(expected))")
        case .invalid(let name, let why): return BadRequest(field(name), prose(why))
        case .duplicateKey(let name): return BadRequest(field(name), "is given more than once")
        case .malformedJSON(let offset, let what): return BadRequest("body", "is not valid JSON (at byte \(max(0, offset - prefix)): \(what))")
        case .notAnObject: return BadRequest("body", "must be a JSON object")
        case .tooLarge(let bytes): return BadRequest("body", "is too large (\(bytes) bytes as an event; limit \(EventDecoder.maxRecordBytes))")
        case .emptyValue: return BadRequest("body", "is required")
        case .unknownType: return BadRequest("body", "is not a hold event")
        }
    }

    /// The binary-mode attributes of the event, as bytes the decoder can read.
    private struct Attributes {
        var id: [UInt8], type: [UInt8], subject: [UInt8], time: [UInt8]
        let source = Array(HoldGateway.source.utf8)
        let specversion = Array("1.0".utf8)

        init(id: String, type: String, subject: String, time: String) {
            self.id = Array(id.utf8); self.type = Array(type.utf8); self.subject = Array(subject.utf8); self.time = Array(time.utf8)
        }

        func withAttributes<R>(_ body: (BinaryModeAttributes) throws(DecodeFailure) -> R) throws(DecodeFailure) -> R {
            try withBytes(specversion) { sv throws(DecodeFailure) in
                try withBytes(id) { i throws(DecodeFailure) in
                    try withBytes(source) { so throws(DecodeFailure) in
                        try withBytes(type) { t throws(DecodeFailure) in
                            try withBytes(subject) { su throws(DecodeFailure) in
                                try withBytes(time) { ti throws(DecodeFailure) in
                                    var a = BinaryModeAttributes()
                                    a.specversion = sv; a.id = i; a.source = so; a.type = t; a.subject = su; a.time = ti
                                    return try body(a)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `withUnsafeBytes` keeping the body's error type.
    static func withBytes<R, E: Error>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result = bytes.withUnsafeBytes { p in Result { () throws(E) -> R in try body(p) } }
        return try result.get()
    }

    // MARK: Decoders

    /// Decoders are not thread-safe and each holds a 1 MiB scratch buffer: a few are kept and
    /// lent to one request at a time.
    static let decoders = DecoderPool()

    final class DecoderPool: Sendable {
        private let idle = Mutex<[Box]>([])
        private static let keep = 8

        private final class Box: @unchecked Sendable {  // used by one request at a time
            let decoder = EventDecoder()
        }

        func withDecoder<R>(_ body: (EventDecoder) throws(BadRequest) -> R) throws(BadRequest) -> R {
            let box = idle.withLock { $0.popLast() } ?? Box()
            defer { idle.withLock { if $0.count < Self.keep { $0.append(box) } } }
            return try body(box.decoder)
        }
    }
}
