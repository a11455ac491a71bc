/// Writes JSON as bytes, with commas handled, strings escaped, amounts exact.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); bytes.append(UInt8(ascii: "]")) }

    public mutating func key(_ k: String) {
        separate()
        appendEscaped(k)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    public mutating func string(_ s: String) { separate(); appendEscaped(s) }
    public mutating func integer(_ v: Int64) { separate(); FixedPoint.appendSigned(v, to: &bytes) }
    /// Millicredits as a credits number (`12.5`).
    public mutating func credits(_ mc: Int64) { separate(); Credits.append(mc, to: &bytes) }
    public mutating func fixed(_ v: Int64, scale: Int, minFractionDigits: Int = 0) {
        separate(); FixedPoint.append(v, scale: scale, to: &bytes, minFractionDigits: minFractionDigits)
    }
    /// `value / 10^scale` as a JSON string holding the shortest exact decimal (money: `"39"`, `"0.0123"`).
    public mutating func decimalString(_ value: Int64, scale: Int) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        FixedPoint.append(value, scale: scale, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }
    public mutating func time(_ nanos: Int64) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        EventTime.append(nanos, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }
    public mutating func optionalTime(_ nanos: Int64?) { if let nanos { time(nanos) } else { null() } }
    public mutating func null() { separate(); bytes.append(contentsOf: "null".utf8) }
    public mutating func bool(_ v: Bool) { separate(); bytes.append(contentsOf: (v ? "true" : "false").utf8) }

    private mutating func appendEscaped(_ s: String) {
        var copy = s
        bytes.append(UInt8(ascii: "\""))
        copy.withUTF8 { JSONText.appendEscaped(UnsafeRawBufferPointer($0), to: &bytes) }
        bytes.append(UInt8(ascii: "\""))
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }
}
