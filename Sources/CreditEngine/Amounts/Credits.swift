/// Millicredits: the unit of every stored amount.
public enum Credits {
    /// 1 credit = 1000 millicredits.
    public static let scale: Int32 = 3
    /// The largest amount a single event may carry: 10^12 credits.
    public static let maxAbsolute: Int64 = 1_000_000_000_000_000

    /// `12500` → `"12.5"`.
    public static func format(_ millicredits: Int64) -> String {
        FixedPoint.string(millicredits, scale: 3)
    }

    public static func append(_ millicredits: Int64, to out: inout [UInt8]) {
        FixedPoint.append(millicredits, scale: 3, to: &out)
    }
}

/// Rate-card numbers are micro-credits (10⁻⁶ credit): the contract allows 6 fraction digits.
public enum MicroCredits {
    public static let scale: Int32 = 6
    public static let one: Int64 = 1_000_000
}
