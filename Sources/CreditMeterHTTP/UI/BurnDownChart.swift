import Foundation

/// The current cycle's burn-down as inline SVG: the balance at the end of each day, the
/// low-balance threshold lines, the projected runway (dashed) and the reset date. Amounts are
/// integer millicredits; only pixel positions are floating point. Readable without colour:
/// every line carries a text label, and a `<table>` repeats the points for screen readers.
struct BurnDownChart {
    let balance: Int64
    let entitlement: Int64
    let cycleStart: Int64
    let cycleEnd: Int64
    /// The account's latest event time (the chart's "now": event time, not the wall clock).
    let lastEvent: Int64
    let exhaustedAt: Int64?
    /// Usage per UTC day number (millicredits).
    let usageByDay: [Int64: Int64]
    /// Allocations this cycle after its start: (seconds, millicredits).
    let allocations: [(Int64, Int64)]
    let thresholds: [Int]

    static let width = 720.0, height = 280.0
    static let left = 78.0, right = 24.0, top = 16.0, bottom = 40.0

    /// (seconds, balance) points: the cycle start, then the end of each day, the last point
    /// at the latest event with the current balance. Computed backwards from the balance, so
    /// the last point is exact: end(d − 1) = end(d) + usage(d) − allocations(d).
    func points() -> [(Int64, Int64)] {
        let now = min(max(lastEvent, cycleStart), cycleEnd)
        let firstDay = HTML.day(ofSeconds: cycleStart)
        let lastDay = HTML.day(ofSeconds: now)
        // Sums in 128 bits: account totals may approach 2⁶⁰ millicredits.
        var alloc: [Int64: Int128] = [:]
        for (t, c) in allocations where t <= now { alloc[HTML.day(ofSeconds: t), default: 0] += Int128(c) }
        var out: [(Int64, Int64)] = [(now, balance)]
        var end = Int128(balance)
        var d = lastDay
        while d >= firstDay {
            let startOfDay = d * 86_400
            end = end + Int128(usageByDay[d] ?? 0) - (alloc[d] ?? 0)  // balance at the end of day d − 1
            out.append((d == firstDay ? cycleStart : startOfDay, Int64(clamping: end)))
            d -= 1
        }
        return out.reversed()
    }

    func svg() -> String {
        let pts = points()
        let lo = min(0, pts.map(\.1).min() ?? 0)
        var hi = max(entitlement, pts.map(\.1).max() ?? 0)
        if hi <= lo { hi = lo + 1000 }
        let plotW = Self.width - Self.left - Self.right
        let plotH = Self.height - Self.top - Self.bottom
        let span = Double(Int128(hi) - Int128(lo)) * 1.05
        let pxPerMilli = plotH / span
        let y0 = Self.top + plotH + Double(lo) * pxPerMilli  // y of 0 credits (lo ≤ 0 sits on the bottom edge)
        func x(_ t: Int64) -> Double { Self.left + plotW * Double(t - cycleStart) / Double(max(1, cycleEnd - cycleStart)) }
        func y(_ m: Int64) -> Double { y0 - Double(m) * pxPerMilli }
        func f(_ v: Double) -> String { String(format: "%.2f", v) }

        var s = "<svg id=\"burndown\" width=\"\(Int(Self.width))\" height=\"\(Int(Self.height))\" viewBox=\"0 0 \(Int(Self.width)) \(Int(Self.height))\" role=\"img\" "
        s += "data-y-zero=\"\(f(y0))\" data-px-per-credit=\"\(String(format: "%.6f", pxPerMilli * 1000))\" data-balance=\"\(HTML.credits(balance))\" "
        s += "aria-labelledby=\"burndown-title\"><title id=\"burndown-title\">Balance over this cycle: \(HTML.credits(balance)) credits left"
        if let e = exhaustedAt, balance > 0 { s += ", projected to run out on \(HTML.dayString(HTML.day(ofSeconds: e)))" }
        s += "</title>"
        // Axes and the zero line.
        s += "<line x1=\"\(f(Self.left))\" y1=\"\(f(Self.top))\" x2=\"\(f(Self.left))\" y2=\"\(f(Self.height - Self.bottom))\" stroke=\"#888\"/>"
        s += "<line x1=\"\(f(Self.left))\" y1=\"\(f(y0))\" x2=\"\(f(Self.width - Self.right))\" y2=\"\(f(y0))\" stroke=\"#888\"/>"
        s += "<text x=\"\(f(Self.left - 6))\" y=\"\(f(y0 + 4))\" text-anchor=\"end\">0</text>"
        s += "<text x=\"\(f(Self.left - 6))\" y=\"\(f(y(hi) + 4))\" text-anchor=\"end\">\(HTML.credits(hi))</text>"
        // Threshold lines.
        if entitlement > 0 {
            for t in thresholds.sorted(by: >) {
                let level = Int64(clamping: Int128(entitlement) * Int128(t) / 100)
                s += "<line class=\"threshold\" x1=\"\(f(Self.left))\" y1=\"\(f(y(level)))\" x2=\"\(f(Self.width - Self.right))\" y2=\"\(f(y(level)))\" stroke=\"#c77700\" stroke-dasharray=\"2 3\"/>"
                s += "<text x=\"\(f(Self.width - Self.right - 2))\" y=\"\(f(y(level) - 3))\" text-anchor=\"end\">\(t) % (\(HTML.credits(level)))</text>"
            }
        }
        // Reset date at the cycle's end.
        let endX = x(cycleEnd)
        s += "<line id=\"reset\" x1=\"\(f(endX))\" y1=\"\(f(Self.top))\" x2=\"\(f(endX))\" y2=\"\(f(Self.height - Self.bottom))\" stroke=\"#1f2a44\" stroke-dasharray=\"6 3\"/>"
        s += "<text x=\"\(f(endX - 4))\" y=\"\(f(Self.height - Self.bottom + 30))\" text-anchor=\"end\">resets \(HTML.dayString(HTML.day(ofSeconds: cycleEnd)))</text>"
        s += "<text x=\"\(f(Self.left))\" y=\"\(f(Self.height - Self.bottom + 16))\">\(HTML.dayString(HTML.day(ofSeconds: cycleStart)))</text>"
        // The balance.
        var d = ""
        for (i, p) in pts.enumerated() { d += (i == 0 ? "M" : " L") + "\(f(x(p.0))) \(f(y(p.1)))" }
        s += "<path id=\"balance-line\" d=\"\(d)\" fill=\"none\" stroke=\"#2f6fdf\" stroke-width=\"2.5\"/>"
        if let last = pts.last {
            s += "<circle cx=\"\(f(x(last.0)))\" cy=\"\(f(y(last.1)))\" r=\"4\" fill=\"#2f6fdf\"/>"
            s += "<text x=\"\(f(x(last.0) + 6))\" y=\"\(f(y(last.1) - 6))\">balance \(HTML.credits(last.1))</text>"
        }
        // Projected runway: from now to exhaustion at the recent pace (clipped at the reset).
        if let e = exhaustedAt, balance > 0, let last = pts.last {
            let endT = min(e, cycleEnd)
            let endBalance = e <= cycleEnd ? Int64(0) : Int64(Double(balance) * Double(e - cycleEnd) / Double(max(1, e - last.0)))
            s += "<path id=\"runway-line\" d=\"M\(f(x(last.0))) \(f(y(last.1))) L\(f(x(endT))) \(f(y(endBalance)))\" fill=\"none\" stroke=\"#b00020\" stroke-width=\"2\" stroke-dasharray=\"7 5\"/>"
            s += "<text x=\"\(f(min(x(endT), Self.width - Self.right - 150)))\" y=\"\(f(y(endBalance) - 8))\">runs out \(HTML.dayString(HTML.day(ofSeconds: e)))</text>"
        }
        s += "</svg>\n"
        // The same points as a table (screen readers, no-SVG browsers).
        s += "<details><summary>Balance by day (table)</summary><table id=\"burndown-table\"><thead><tr><th>time</th><th class=\"num\">balance</th></tr></thead><tbody>"
        for p in pts { s += "<tr><td>\(HTML.dayString(HTML.day(ofSeconds: p.0)))</td><td class=\"num\">\(HTML.credits(p.1))</td></tr>" }
        s += "</tbody></table></details>\n"
        return s
    }
}
