/// Event time: nanoseconds since 1970-01-01T00:00:00Z, UTC. Pure integer calendar
/// arithmetic (proleptic Gregorian), no clock and no Foundation.
public enum EventTime {
    public static let nanosPerSecond: Int64 = 1_000_000_000
    public static let nanosPerHour: Int64 = 3_600 * nanosPerSecond
    public static let nanosPerDay: Int64 = 86_400 * nanosPerSecond
    /// Years accepted in timestamps: 1678–2261 fit in Int64 nanoseconds; keep well inside.
    static let yearRange: ClosedRange<Int64> = 1700...2200

    // MARK: Civil calendar (H. Hinnant's days-from-civil algorithms)

    public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    public static func isLeap(_ year: Int64) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    public static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    @inline(__always)
    public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// The day number (days since epoch) containing `nanos`.
    @inline(__always)
    public static func day(of nanos: Int64) -> Int64 { floorDiv(nanos, nanosPerDay) }

    /// `anchor` + `months` calendar months: same day of month clamped to the month's
    /// last day, same time of day (Jan 31 + 1 month = Feb 28/29).
    public static func addingMonths(_ months: Int64, to anchor: Int64) -> Int64 {
        let days = day(of: anchor)
        let timeOfDay = anchor - days * nanosPerDay
        let (y, m, d) = civilFromDays(days)
        let total = y * 12 + (m - 1) + months
        let ny = floorDiv(total, 12)
        let nm = total - ny * 12 + 1
        let nd = min(d, daysInMonth(year: ny, month: nm))
        return daysFromCivil(year: ny, month: nm, day: nd) * nanosPerDay + timeOfDay
    }

    /// Whole calendar months between the months of `a` and `b` (b's month − a's month).
    public static func monthDifference(from a: Int64, to b: Int64) -> Int64 {
        let ca = civilFromDays(day(of: a))
        let cb = civilFromDays(day(of: b))
        return (cb.year * 12 + cb.month) - (ca.year * 12 + ca.month)
    }

    // MARK: RFC 3339

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; returns UTC nanoseconds.
    /// Up to 9 fraction digits; a numeric offset is converted to UTC.
    public static func parse(_ b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        guard n >= 20, n <= 40 else { return nil }
        @inline(__always) func digit(_ i: Int) -> Int64? {
            let v = b[i] &- 48
            return v < 10 ? Int64(v) : nil
        }
        @inline(__always) func number(_ i: Int, _ len: Int) -> Int64? {
            var r: Int64 = 0
            for k in i..<(i + len) { guard let d = digit(k) else { return nil }; r = r * 10 + d }
            return r
        }
        let year, month, dayOfMonth, hour, minute, second: Int64
        if let f = fixedFields(b) {
            (year, month, dayOfMonth, hour, minute, second) = f
        } else {
            guard let y = number(0, 4), b[4] == UInt8(ascii: "-"),
                  let mo = number(5, 2), b[7] == UInt8(ascii: "-"),
                  let d = number(8, 2),
                  b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
                  let h = number(11, 2), b[13] == UInt8(ascii: ":"),
                  let mi = number(14, 2), b[16] == UInt8(ascii: ":"),
                  let sec = number(17, 2)
            else { return nil }
            (year, month, dayOfMonth, hour, minute, second) = (y, mo, d, h, mi, sec)
        }
        guard yearRange.contains(year), (1...12).contains(month),
              dayOfMonth >= 1, dayOfMonth <= daysInMonth(year: year, month: month),
              hour < 24, minute < 60, second < 60  // leap seconds are not accepted
        else { return nil }
        var i = 19
        var fraction: Int64 = 0
        if i < n && b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < n, let d = digit(i) {
                guard digits < 9 else { return nil }
                fraction = fraction * 10 + d
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { fraction *= 10 }
        }
        guard i < n else { return nil }
        var offsetSeconds: Int64 = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard i + 6 == n, let oh = number(i + 1, 2), b[i + 3] == UInt8(ascii: ":"),
                  let om = number(i + 4, 2), oh < 24, om < 60 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            i += 6
        default:
            return nil
        }
        guard i == n else { return nil }
        let days = daysFromCivil(year: year, month: month, day: dayOfMonth)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * nanosPerSecond + fraction
    }

    /// The fields of `YYYY-MM-DDTHH:MM:SS` read with two 8-byte word tests (bytes 0–7 and
    /// 11–18) and three byte tests (8, 9, 10); nil when any position does not hold what it
    /// must, and `parse` then reads the same positions byte by byte (which gives the same
    /// fields when they are well-formed, and refuses them otherwise). Requires `count ≥ 19`.
    ///
    /// Per word, `w & shape == expect` holds when each digit position's high nibble is 3 and
    /// each separator is exact; adding 6 to a digit position then never carries out of its
    /// byte (≤ 0x3F + 6), and keeps the high nibble at 3 exactly for '0'…'9'.
    @inline(__always)
    static func fixedFields(_ b: UnsafeRawBufferPointer) -> (Int64, Int64, Int64, Int64, Int64, Int64)? {
        assert(b.count >= 19)
        let p = b.baseAddress!
        // "YYYY-MM-": digits at 0–3, 5, 6; '-' at 4 and 7 (little-endian: byte k at bits 8k).
        let date = p.loadUnaligned(as: UInt64.self)
        guard date & 0xFFF0_F0FF_F0F0_F0F0 == 0x2D30_302D_3030_3030,
              (date &+ 0x0006_0600_0606_0606) & 0x00F0_F000_F0F0_F0F0 == 0x0030_3000_3030_3030 else { return nil }
        // "HH:MM:SS" at 11–18: digits at 0, 1, 3, 4, 6, 7 of the word; ':' at 2 and 5.
        let time = p.loadUnaligned(fromByteOffset: 11, as: UInt64.self)
        guard time & 0xF0F0_FFF0_F0FF_F0F0 == 0x3030_3A30_303A_3030,
              (time &+ 0x0606_0006_0600_0606) & 0xF0F0_00F0_F000_F0F0 == 0x3030_0030_3000_3030 else { return nil }
        let d0 = b[8] &- 48, d1 = b[9] &- 48, t = b[10]
        guard d0 < 10, d1 < 10, t == UInt8(ascii: "T") || t == UInt8(ascii: "t") || t == UInt8(ascii: " ") else { return nil }
        // Digit values: each byte minus what it was matched against (no borrow: every byte ≥ it).
        let dv = date &- 0x2D30_302D_3030_3030
        let tv = time &- 0x3030_3A30_303A_3030
        @inline(__always) func at(_ w: UInt64, _ k: UInt64) -> Int64 { Int64((w >> (8 * k)) & 0xFF) }
        return (at(dv, 0) * 1000 + at(dv, 1) * 100 + at(dv, 2) * 10 + at(dv, 3),
                at(dv, 5) * 10 + at(dv, 6),
                Int64(d0) * 10 + Int64(d1),
                at(tv, 0) * 10 + at(tv, 1),
                at(tv, 3) * 10 + at(tv, 4),
                at(tv, 6) * 10 + at(tv, 7))
    }

    public static func parse(_ text: String) -> Int64? {
        var copy = text
        return copy.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    /// Canonical RFC 3339 UTC text: `2026-11-21T10:00:00Z`, with `.mmm`, `.uuuuuu` or
    /// `.nnnnnnnnn` only when the time has a fraction of a second.
    /// Total over Int64 (1677-09-21 … 2262-04-11: four-digit years): a time from a corrupt
    /// snapshot, `Int64.min` included, must never trap the writer.
    public static func append(_ nanos: Int64, to out: inout [UInt8]) {
        let days = day(of: nanos)
        // Floored remainder without `days * nanosPerDay`, which overflows on the first day of the range.
        var rest = nanos % nanosPerDay
        if rest < 0 { rest += nanosPerDay }
        let (y, m, d) = civilFromDays(days)
        let secondsOfDay = rest / nanosPerSecond
        rest -= secondsOfDay * nanosPerSecond
        @inline(__always) func put(_ v: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            var v = v
            while divisor > 0 { out.append(UInt8(48 + (v / divisor) % 10)); v %= divisor; divisor /= 10 }
        }
        put(y, 4); out.append(UInt8(ascii: "-")); put(m, 2); out.append(UInt8(ascii: "-")); put(d, 2)
        out.append(UInt8(ascii: "T"))
        put(secondsOfDay / 3600, 2); out.append(UInt8(ascii: ":"))
        put((secondsOfDay / 60) % 60, 2); out.append(UInt8(ascii: ":"))
        put(secondsOfDay % 60, 2)
        if rest != 0 {
            out.append(UInt8(ascii: "."))
            if rest % 1_000_000 == 0 { put(rest / 1_000_000, 3) }
            else if rest % 1_000 == 0 { put(rest / 1_000, 6) }
            else { put(rest, 9) }
        }
        out.append(UInt8(ascii: "Z"))
    }

    public static func format(_ nanos: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(30)
        append(nanos, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `YYYY-MM-DD` of a day number.
    /// Calendar arithmetic on the day number itself: a far-future day (a runway's zero day
    /// at a tiny pace) is beyond Int64 nanoseconds (year 2262) and must not trap. Years past
    /// 9999 print with more digits.
    public static func formatDay(_ dayNumber: Int64) -> String {
        let (y, m, d) = civilFromDays(dayNumber)
        func pad(_ v: Int64, _ width: Int) -> String {
            let digits = String(v.magnitude)
            return (v < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
    }
}
