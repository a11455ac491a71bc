/// Kinds of credit blocks (contract §5).
public enum BlockKind: UInt8, Sendable {
    case allowance = 0, grant = 1, topup = 2

    public var name: String {
        switch self {
        case .allowance: return "allowance"
        case .grant: return "grant"
        case .topup: return "topup"
        }
    }
}

/// A grant or top-up block. `expiresAt == .max` means never. `origin`: fingerprint of the
/// (source, id) of the grant or top-up event that made it (0: an adjustment or rollover,
/// which cannot be voided).
public struct Block: Sendable, Equatable {
    public var kind: BlockKind
    public var remaining: Int64
    public var expiresAt: Int64
    public var origin: UInt64

    public init(kind: BlockKind, remaining: Int64, expiresAt: Int64 = .max, origin: UInt64 = 0) {
        self.kind = kind
        self.remaining = remaining
        self.expiresAt = expiresAt
        self.origin = origin
    }
}

/// The account's blocks and the burn order (contract §5): the monthly allowance first, then
/// grants by soonest expiry (non-expiring last), then top-ups oldest first; what they cannot
/// cover is overage, and credits that arrive pay overage off first.
extension Account {
    /// Burns `amount` in burn order: allowance, grants by soonest expiry, top-ups oldest
    /// first; what they cannot cover becomes overage.
    @inline(__always)
    mutating func burn(_ amount: Int64) {
        var rest = amount
        if allowance > 0 {
            let take = min(allowance, rest)
            allowance -= take
            allowanceUsed += take
            rest -= take
            if rest == 0 { return }
        }
        if !blocks.isEmpty {
            var i = 0
            while rest > 0 && i < blocks.count {
                let take = min(blocks[i].remaining, rest)
                blocks[i].remaining -= take
                blockCredits -= take
                rest -= take
                i += 1
            }
            blocks.removeAll { $0.remaining == 0 }
        }
        overage += rest
    }

    /// Credits arriving pay overage off first; returns what is left for the block.
    @inline(__always)
    mutating func payOverage(_ amount: Int64) -> Int64 {
        let paid = min(overage, amount)
        overage -= paid
        return amount - paid
    }

    /// Adds a grant or top-up block in burn order.
    mutating func addBlock(_ kind: BlockKind, _ credits: Int64, expiresAt: Int64, origin: UInt64 = 0) {
        let rest = payOverage(credits)
        guard rest > 0 else { return }
        let block = Block(kind: kind, remaining: rest, expiresAt: expiresAt, origin: origin)
        let position: Int
        if kind == .topup {
            position = blocks.count
        } else {
            position = blocks.firstIndex { $0.kind == .topup || $0.expiresAt > expiresAt } ?? blocks.count
        }
        blocks.insert(block, at: position)
        blockCredits += rest
    }

    /// Grants that expire at or before `time` are gone.
    mutating func expireBlocks(upTo time: Int64) {
        while let first = blocks.first, first.expiresAt <= time {
            expired += first.remaining
            blockCredits -= first.remaining
            record(HistoryEntry(.grantExpired, time: first.expiresAt, credits: -first.remaining))
            blocks.removeFirst()
        }
    }
}
