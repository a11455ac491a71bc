extension Duration {
    /// The whole duration in nanoseconds (attoseconds below a nanosecond dropped).
    package var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }

    package var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
