import CreditEngine
import Foundation

/// Small helpers for server-rendered HTML: escaping, exact credit amounts read back from the
/// API's JSON, and dates.
enum HTML {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Percent-encodes a path segment or query value (unreserved characters kept).
    static func urlEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(b))
            default:
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    /// A credits number from the API's JSON as exact millicredits: the API writes at most 3
    /// fraction digits and amounts far below 2⁵³ millicredits, so rounding the parsed double
    /// recovers the integer exactly.
    static func millicredits(_ any: Any?) -> Int64? {
        guard let n = any as? NSNumber, !(any is Bool) else { return nil }
        return Int64((n.doubleValue * 1000).rounded())
    }

    /// Millicredits written as credits, exactly, with thousands separators ("1,234.5").
    static func credits(_ m: Int64) -> String {
        let sign = m < 0 ? "−" : ""
        let a = m.magnitude
        var whole = String(a / 1000)
        var grouped = ""
        while whole.count > 3 {
            grouped = "," + whole.suffix(3) + grouped
            whole.removeLast(3)
        }
        grouped = whole + grouped
        let frac = a % 1000
        if frac == 0 { return sign + grouped }
        var f = String(String(frac + 1000).dropFirst())
        while f.hasSuffix("0") { f.removeLast() }
        return sign + grouped + "." + f
    }

    /// The minus sign every page uses for a negative amount (U+2212, never a hyphen).
    static let minus = "\u{2212}"

    /// Tenths of a percent as "12.3" / "−0.5".
    static func permille(_ p: Int64) -> String {
        (p < 0 ? minus : "") + "\(p.magnitude / 10).\(p.magnitude % 10)"
    }

    /// Millicredits rounded half away from zero to whole credits (for projections, which are
    /// estimates: "≈300 left").
    static func roundedToCredits(_ m: Int64) -> Int64 {
        let whole = (Int128(m.magnitude) + 500) / 1000 * 1000
        return Int64(clamping: m < 0 ? -whole : whole)
    }

    /// Money held as `value / 10^scale` currency units, exactly, with the currency:
    /// "39 USD", "0.0123 USD", "−1.5 USD".
    static func money(_ value: Int64, scale: Int, currency: String) -> String {
        let digits = FixedPoint.string(value, scale: scale)
        return (digits.hasPrefix("-") ? minus + digits.dropFirst() : Substring(digits)) + " " + currency
    }

    /// Event-time nanoseconds as people read them: "2026-12-03 14:05 UTC" (seconds only
    /// when there are any: "2026-12-03 14:05:07 UTC").
    static func time(_ nanos: Int64) -> String {
        let s = EventTime.floorDiv(nanos, EventTime.nanosPerSecond)
        let day = day(ofSeconds: s), inDay = s - day * 86_400
        var out = dayString(day) + String(format: " %02lld:%02lld", inDay / 3600, inDay / 60 % 60)
        if inDay % 60 != 0 { out += String(format: ":%02lld", inDay % 60) }
        return out + " UTC"
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// "Nov 8" for a day number (a chart's axis; full dates elsewhere).
    static func shortDay(_ dayNumber: Int64) -> String {
        let date = dayString(dayNumber)  // YYYY-MM-DD
        let parts = date.split(separator: "-")
        guard parts.count >= 3, let m = Int(parts[parts.count - 2]), let d = Int(parts[parts.count - 1]), (1...12).contains(m) else { return date }
        return "\(months[m - 1]) \(d)"
    }

    /// "2026-11-21T10:00:00Z" → seconds since 1970 (UTC); nil for null or unparsable.
    static func seconds(_ any: Any?) -> Int64? {
        guard let s = any as? String, s.count >= 19 else { return nil }
        let chars = Array(s.utf8)
        func num(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in r { guard chars[i] >= 48 && chars[i] <= 57 else { return nil }; v = v * 10 + Int64(chars[i] - 48) }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16), let se = num(17..<19)
        else { return nil }
        return days(year: y, month: mo, day: d) * 86_400 + h * 3600 + mi * 60 + se
    }

    /// Days since 1970-01-01 for a civil date (proleptic Gregorian).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// "2026-11-21" for a day number.
    static func dayString(_ dayNumber: Int64) -> String {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return String(format: "%04lld-%02lld-%02lld", y, m, d)
    }

    static func day(ofSeconds s: Int64) -> Int64 { s >= 0 ? s / 86_400 : (s - 86_399) / 86_400 }

    static let style = """
    body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
    header{background:#1f2a44;color:#fff;padding:12px 24px}header a{color:#cfe0ff}
    main{padding:16px 24px;max-width:1180px}
    h1{font-size:22px;margin:8px 0;overflow-wrap:anywhere}h2{font-size:17px;margin:22px 0 8px}
    table{border-collapse:collapse;background:#fff;width:100%}th,td{padding:6px 10px;border-bottom:1px solid #e3e6ea;text-align:left}
    th a{color:inherit}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
    td{overflow-wrap:anywhere}td.nowrap,td[class^=status-]{white-space:nowrap;overflow-wrap:normal}
    .bar{display:inline-block;width:120px;max-width:40%;height:10px;background:#e3e6ea;vertical-align:middle;margin-right:6px}
    .bar>span{display:block;height:10px;background:#2f6fdf}
    .status-low{color:#9a5b00;font-weight:600}.status-exhausted{color:#b00020;font-weight:600}.status-idle{color:#5a6270}
    .cards{display:flex;gap:14px;flex-wrap:wrap}.card{background:#fff;padding:12px 16px;border:1px solid #e3e6ea;min-width:170px;flex:1 1 170px;max-width:360px}
    .card b{display:block;font-size:24px}.card small{display:block;color:#5a6270}.filters a{margin-right:12px}.muted{color:#5a6270}
    dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;background:#fff;padding:10px 14px;border:1px solid #e3e6ea;margin:0}
    dl.facts dt{color:#5a6270}dl.facts dd{margin:0;font-variant-numeric:tabular-nums}
    .stack{display:flex;height:30px;max-width:680px;background:#e3e6ea}
    .stack>span{color:#fff;font-size:13px;line-height:30px;padding:0 4px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;border-right:1px solid #fff;min-width:0}
    form.search{margin:8px 0}form.search input[type=search]{font:inherit;padding:4px 8px;width:16em;max-width:60%}
    svg text{font-size:13px;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;fill:#1b1f24}
    svg.chart{display:block;width:100%;height:auto;max-width:680px;background:#fff}
    svg.chart text{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
    svg.chart text.unit{fill:#5a6270}
    @media (max-width:640px){
    header{padding:10px 12px}main{padding:10px 12px}
    th,td{padding:5px 6px}.wide{display:none}
    }
    """

    static func page(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>\(escape(title))</title><style>\(style)</style></head>
        <body><header><a href="/ui/">CreditMeter</a> · accounts held by this instance</header><main>
        \(body)
        </main></body></html>
        """
    }

    /// An error page: a heading, the reason in words, and a way on (never the token).
    static func errorPage(_ heading: String, _ reason: String, extra: String = "") -> String {
        page(title: "\(heading) — CreditMeter",
             body: "<h1>\(escape(heading))</h1>\n<p id=\"error\">\(escape(reason))</p>\n\(extra)<p><a href=\"/ui/\">All accounts</a></p>")
    }
}
