internal import CachePrefetch

/// Byte strings ↔ dense integer ids, with lookups straight from a byte buffer (no String,
/// no allocation). One structure serves account ids (id = account index), rate-card
/// symbols, capabilities and members.
///
/// Layout: the bytes of every entry in one arena; an open-addressing table of
/// `(hash tag, id + 1)` pairs, load ≤ 1/2. About 12 bytes per entry plus its bytes.
public struct InternTable: Sendable {
    private var arena: [UInt8] = []
    private var ends: [UInt32] = []          // ends[id] = end offset of entry id in arena
    private var slots: [UInt64] = []         // high 32: hash tag, low 32: id + 1 (0 = empty)
    private var mask: Int = 0

    public init(capacity: Int = 8) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    public var count: Int { ends.count }

    /// Bytes held (arena + index), for memory figures.
    public var byteSize: Int { arena.capacity + ends.capacity * 4 + slots.capacity * 8 }

    @inline(__always)
    private func range(of id: Int) -> Range<Int> {
        let start = id == 0 ? 0 : Int(ends[id - 1])
        return start..<Int(ends[id])
    }

    /// The id of `bytes` (with its precomputed `ByteHash.hash`), or nil.
    @inline(__always)
    public func find(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        let tag = hash >> 32
        var i = Int(truncatingIfNeeded: hash) & mask
        return slots.withUnsafeBufferPointer { table in
            arena.withUnsafeBytes { arenaBytes in
                while true {
                    let slot = table[i]
                    if slot == 0 { return nil }
                    if slot >> 32 == tag {
                        let id = Int(slot & 0xFFFF_FFFF) - 1
                        let start = id == 0 ? 0 : Int(ends[id - 1])
                        let candidate = UnsafeRawBufferPointer(rebasing: arenaBytes[start..<Int(ends[id])])
                        if candidate.equals(bytes) { return id }
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// Starts loading the table slot a `find` with this hash reads first (a hint, no effect).
    @inline(__always)
    func prefetch(hash: UInt64) {
        slots.withUnsafeBufferPointer { cache_prefetch($0.baseAddress! + (Int(truncatingIfNeeded: hash) & mask)) }
    }

    /// Inserts `bytes` (must not be present) and returns its new id.
    @discardableResult
    public mutating func insert(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> Int {
        let id = ends.count
        arena.append(contentsOf: bytes)
        ends.append(UInt32(arena.count))
        if (id + 1) * 2 > slots.count { grow() }
        place(hash: hash, id: id)
        return id
    }

    /// Finds or inserts.
    public mutating func intern(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> Int {
        if let id = find(bytes, hash: hash) { return id }
        return insert(bytes, hash: hash)
    }

    public mutating func intern(_ text: String) -> Int {
        var copy = text
        return copy.withUTF8 { intern(UnsafeRawBufferPointer($0), hash: ByteHash.hash(UnsafeRawBufferPointer($0))) }
    }

    public func find(_ text: String) -> Int? {
        var copy = text
        return copy.withUTF8 { find(UnsafeRawBufferPointer($0), hash: ByteHash.hash(UnsafeRawBufferPointer($0))) }
    }

    private mutating func place(hash: UInt64, id: Int) {
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = (hash >> 32) << 32 | UInt64(id + 1)
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = [UInt64](repeating: 0, count: size)
        mask = size - 1
        for id in 0..<ends.count {
            let h = withBytes(of: id) { ByteHash.hash($0) }
            place(hash: h, id: id)
        }
    }

    /// Calls `body` with the bytes of entry `id`.
    @inline(__always)
    public func withBytes<R>(of id: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let r = range(of: id)
        return try arena.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[r])) }
    }

    public func string(_ id: Int) -> String {
        withBytes(of: id) { String(decoding: $0, as: UTF8.self) }
    }
}
