/// An account's holds in a snapshot (§15; format 6, in the account's §12 state — the format is
/// in SnapshotCodec.swift), written by `writeHolds` and read back by `readHolds`, side by side.
///
///     next hold number, hold count, then each hold oldest first (ascending number):
///       number, id, status, denial (0: none, else its code + 1), held, settled,
///       member and workflow (0: none, else 1 and the label), requested at, expires at,
///       ended at (ended holds only: an active one has not ended), request fingerprint (8 bytes)
///
/// The book keeps its holds in number order, so the same holds always give the same bytes.
extension SnapshotCodec {
    static func writeHolds(_ book: HoldBook, into w: inout ByteWriter) {
        writeHolds(book.holds, nextNumber: book.nextNumber, into: &w)
    }

    static func writeHolds(_ holds: [Hold], nextNumber: Int64, into w: inout ByteWriter) {
        func label(_ s: String?) {
            guard let s else { w.u8(0); return }
            w.u8(1)
            w.string(s)
        }
        w.uvar(UInt64(bitPattern: nextNumber))
        w.uvar(UInt64(holds.count))
        for h in holds {
            w.uvar(UInt64(bitPattern: h.number))
            w.string(h.id)
            w.u8(h.status.rawValue)
            w.u8(h.denial.map { $0.rawValue + 1 } ?? 0)
            w.svar(h.held); w.svar(h.settled)
            label(h.member); label(h.workflow)
            w.svar(h.requestedAt); w.svar(h.expiresAt)
            if !h.isActive { w.svar(h.endedAt) }
            w.u64(h.requestHash)
        }
    }

    /// Reads account `i`'s holds; refuses what the ledger never leaves behind
    /// (`validateHolds`) before the book is rebuilt.
    static func readHolds(_ r: inout ByteReader, account i: Int, clock: Int64) throws(SnapshotError) -> HoldBook {
        func label() throws(SnapshotError) -> String? { try r.u8() == 0 ? nil : try r.string() }
        let nextNumber = Int64(bitPattern: try r.uvar())
        let count = try r.int(HoldBook.maxActive + HoldBook.maxEnded)
        var holds: [Hold] = []
        holds.reserveCapacity(count)
        for _ in 0..<count {
            let number = Int64(bitPattern: try r.uvar())
            let id = try r.string()
            let status = Hold.Status(rawValue: try r.u8())
            let code = try r.u8()
            let denial = code == 0 ? nil : Hold.Denial(rawValue: code - 1)
            guard let status, code == 0 || denial != nil else {
                throw .damaged("account \(i): hold status or denial out of range (corrupt snapshot)")
            }
            let held = try r.svar(), settled = try r.svar()
            let member = try label(), workflow = try label()
            let requestedAt = try r.svar(), expiresAt = try r.svar()
            let endedAt = status == .active ? Int64.max : try r.svar()
            holds.append(Hold(id: id, number: number, status: status, denial: denial, held: held, settled: settled,
                              member: member, workflow: workflow, requestedAt: requestedAt, expiresAt: expiresAt,
                              endedAt: endedAt, requestHash: try r.u64()))
        }
        try validateHolds(holds, nextNumber: nextNumber, clock: clock, account: i)
        return try HoldBook(restoring: holds, nextNumber: nextNumber)
    }
}
