/// Variable-length byte strings that are overwritten often (each account's last event id),
/// in one arena with slot reuse: rewriting a value that fits its slot allocates nothing.
/// A reference packs offset (32 bits) | length (16) | capacity (16); 0 = empty.
public struct SlotArena: Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var waste = 0

    public init() {}

    public var byteSize: Int { bytes.capacity }

    @inline(__always)
    public mutating func store(_ value: UnsafeRawBufferPointer, in ref: inout UInt64) {
        let length = min(value.count, 0xFFFF)
        let capacity = Int(ref & 0xFFFF)
        if ref != 0 && length <= capacity {
            let offset = Int(ref >> 32)
            bytes.withUnsafeMutableBytes { raw in
                if length > 0 { (raw.baseAddress! + offset).copyMemory(from: value.baseAddress!, byteCount: length) }
            }
            ref = UInt64(offset) << 32 | UInt64(length) << 16 | UInt64(capacity)
            return
        }
        waste += capacity
        let newCapacity = min((length + 15) & ~15, 0xFFFF)
        let offset = bytes.count
        if length > 0 { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[0..<length])) }
        bytes.append(contentsOf: repeatElement(0, count: newCapacity - length))
        ref = UInt64(offset) << 32 | UInt64(length) << 16 | UInt64(newCapacity)
    }

    public func withBytes<R>(_ ref: UInt64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let offset = Int(ref >> 32)
        let length = Int((ref >> 16) & 0xFFFF)
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
    }

    public func string(_ ref: UInt64) -> String? {
        guard ref != 0 else { return nil }
        let offset = Int(ref >> 32)
        let length = Int((ref >> 16) & 0xFFFF)
        return String(decoding: bytes[offset..<(offset + length)], as: UTF8.self)
    }

    /// Marks a slot dead (its bytes are reclaimed by the next compaction).
    public mutating func release(_ ref: UInt64) {
        if ref != 0 { waste += Int(ref & 0xFFFF) }
    }

    /// True when more than half the arena is dead slots.
    public var needsCompaction: Bool { waste > 4096 && waste * 2 > bytes.count }

    /// Rewrites every live slot into a fresh arena.
    public mutating func compact(_ refs: inout [UInt64]) {
        var fresh = SlotArena()
        for i in refs.indices where refs[i] != 0 {
            let offset = Int(refs[i] >> 32)
            let length = Int((refs[i] >> 16) & 0xFFFF)
            var newRef: UInt64 = 0
            bytes.withUnsafeBytes { raw in
                fresh.store(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]), in: &newRef)
            }
            refs[i] = newRef
        }
        self = fresh
    }
}
