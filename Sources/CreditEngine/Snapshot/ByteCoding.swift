/// Little helpers for the snapshot format: LEB128 varints (zig-zag for signed), length-
/// prefixed bytes, fixed 64-bit words.
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []
    public init(capacity: Int = 1 << 16) { bytes.reserveCapacity(capacity) }

    @inline(__always) public mutating func u8(_ v: UInt8) { bytes.append(v) }
    @inline(__always) public mutating func uvar(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    @inline(__always) public mutating func svar(_ v: Int64) { uvar(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    @inline(__always) public mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
    public mutating func data(_ b: UnsafeRawBufferPointer) { uvar(UInt64(b.count)); bytes.append(contentsOf: b) }
    public mutating func string(_ s: String) { var c = s; c.withUTF8 { data(UnsafeRawBufferPointer($0)) } }
    public mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
}

public struct ByteReader {
    let bytes: [UInt8]
    public private(set) var position: Int
    let end: Int

    public init(_ bytes: [UInt8], start: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.position = start
        self.end = end ?? bytes.count
    }

    public var remaining: Int { end - position }

    @inline(__always) public mutating func u8() throws(SnapshotError) -> UInt8 {
        guard position < end else { throw .damaged("truncated") }
        defer { position += 1 }
        return bytes[position]
    }
    @inline(__always) public mutating func uvar() throws(SnapshotError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            guard shift < 64 else { throw .damaged("bad varint") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }
    @inline(__always) public mutating func svar() throws(SnapshotError) -> Int64 {
        let u = try uvar()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }
    public mutating func int(_ limit: Int = Int(Int32.max)) throws(SnapshotError) -> Int {
        let v = try uvar()
        // Every counted element takes at least one byte, so a count beyond the bytes left is
        // corrupt — refused before anything is reserved for it (no giant allocations).
        guard v <= UInt64(limit), v <= UInt64(remaining) else { throw .damaged("count out of range") }
        return Int(v)
    }
    public mutating func u64() throws(SnapshotError) -> UInt64 {
        guard position + 8 <= end else { throw .damaged("truncated") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return v
    }
    public mutating func data() throws(SnapshotError) -> ArraySlice<UInt8> {
        let n = try int(1 << 30)
        guard position + n <= end else { throw .damaged("truncated") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }
    public mutating func string() throws(SnapshotError) -> String { String(decoding: try data(), as: UTF8.self) }
}
