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

    /// The balance the runway projects for the reset, when the credits outlast the cycle
    /// (balance × time left after the reset ÷ time left from now, in integers); nil otherwise.
    func projectedAtReset(now: Int64) -> Int64? {
        guard let e = exhaustedAt, balance > 0, e > cycleEnd else { return nil }
        return Int64(clamping: Int128(balance) * Int128(e - cycleEnd) / Int128(max(1, e - now)))
    }

    /// The chart, then the labels it could not place without overlap (listed under it), then
    /// its points as a table.
    func svg() -> String {
        let pts = points()
        let now = pts[pts.count - 1]
        let frame = ChartFrame(start: cycleStart, end: cycleEnd, low: pts.map(\.1).min() ?? 0, high: max(entitlement, pts.map(\.1).max() ?? 0))
        let f = ChartLayout.f
        var layout = ChartLayout(width: ChartFrame.width, height: ChartFrame.height)
        let top = ChartFrame.top, bottom = ChartFrame.plotBottom, right = ChartFrame.plotRight

        var title = "Balance over this cycle: \(HTML.credits(balance)) credits left"
        if let e = exhaustedAt, balance > 0 { title += ", projected to run out on \(HTML.dayString(HTML.day(ofSeconds: e)))" }
        var s = ChartFrame.open(id: "burndown", label: title,
                                extra: "data-y-zero=\"\(f(frame.yZero))\" data-px-per-credit=\"\(String(format: "%.6f", frame.pxPerMilli * 1000))\" data-balance=\"\(HTML.credits(balance))\" ")
        s += frame.axes(unit: "credits", layout: &layout)

        // Lines first (every label avoids all of them), labels after, most important first.
        var lines = ""
        let levels: [(Int, Int64)] = entitlement > 0
            ? thresholds.sorted(by: >).map { ($0, Int64(clamping: Int128(entitlement) * Int128($0) / 100)) } : []
        for (_, level) in levels {
            let ly = frame.y(level)
            lines += "<line class=\"threshold\" x1=\"\(f(ChartFrame.left))\" y1=\"\(f(ly))\" x2=\"\(f(right))\" y2=\"\(f(ly))\" stroke=\"#c77700\" stroke-dasharray=\"2 3\"/>"
            layout.avoid((ChartFrame.left, ly), (right, ly))
        }
        let endX = frame.x(cycleEnd)
        lines += "<line id=\"reset\" x1=\"\(f(endX))\" y1=\"\(f(top))\" x2=\"\(f(endX))\" y2=\"\(f(bottom))\" stroke=\"#1f2a44\" stroke-dasharray=\"6 3\"/>"
        layout.avoid((endX, top), (endX, bottom))
        let nowX = frame.x(now.0)
        if now.0 < cycleEnd {
            lines += "<line id=\"now\" x1=\"\(f(nowX))\" y1=\"\(f(top))\" x2=\"\(f(nowX))\" y2=\"\(f(bottom))\" stroke=\"#5a6270\" stroke-dasharray=\"1 3\"/>"
            layout.avoid((nowX, top), (nowX, bottom))
        }
        var d = ""
        for (i, p) in pts.enumerated() {
            d += (i == 0 ? "M" : " L") + "\(f(frame.x(p.0))) \(f(frame.y(p.1)))"
            if i > 0 { layout.avoid((frame.x(pts[i - 1].0), frame.y(pts[i - 1].1)), (frame.x(p.0), frame.y(p.1))) }
        }
        lines += "<path id=\"balance-line\" d=\"\(d)\" fill=\"none\" stroke=\"#2f6fdf\" stroke-width=\"2.5\"/>"
        let pointX = frame.x(now.0), pointY = frame.y(now.1)
        lines += "<circle cx=\"\(f(pointX))\" cy=\"\(f(pointY))\" r=\"4\" fill=\"#2f6fdf\"/>"
        layout.avoid(ChartLayout.Box(x0: pointX - 5, y0: pointY - 5, x1: pointX + 5, y1: pointY + 5))
        // Projected runway: from now to exhaustion at the recent pace, or to the reset.
        var runwayEnd: (Double, Double, String)?
        if let e = exhaustedAt, balance > 0 {
            let endT = min(e, cycleEnd)
            let endBalance = projectedAtReset(now: now.0) ?? 0
            let ex = frame.x(endT), ey = frame.y(endBalance)
            lines += "<path id=\"runway-line\" d=\"M\(f(pointX)) \(f(pointY)) L\(f(ex)) \(f(ey))\" fill=\"none\" stroke=\"#b00020\" stroke-width=\"2\" stroke-dasharray=\"7 5\"/>"
            layout.avoid((pointX, pointY), (ex, ey))
            runwayEnd = (ex, ey, e <= cycleEnd ? "runs out \(HTML.dayString(HTML.day(ofSeconds: e)))"
                                              : "≈\(HTML.credits(HTML.roundedToCredits(endBalance))) left at the reset")
        }
        s += lines

        var labels = ""
        var unplaced: [String] = []
        /// Places `text`, or lists it under the chart (after `note`, saying what it labels).
        func label(_ text: String, _ candidates: [ChartLayout.Spot], id: String? = nil, note: String? = nil) {
            if let spot = layout.place(text, candidates) {
                labels += ChartLayout.text(text, at: spot, id: id)
            } else {
                unplaced.append(note.map { "\($0) \(text)" } ?? text)
            }
        }
        label("balance \(HTML.credits(now.1))", ChartLayout.around(pointX, pointY), id: "balance-label")
        if let (ex, ey, text) = runwayEnd { label(text, ChartLayout.around(ex, ey, preferLeft: true), id: "runway-label") }
        let row1 = bottom + 16, row2 = bottom + 36
        let resets = "resets \(HTML.dayString(HTML.day(ofSeconds: cycleEnd)))"
        label(resets, [.init(x: endX, y: row2, anchor: .end), .init(x: endX, y: top - 8, anchor: .end), .init(x: endX, y: row1, anchor: .end)], id: "reset-label")
        if now.0 < cycleEnd {
            let text = "now \(HTML.dayString(HTML.day(ofSeconds: now.0)))"
            label(text, [.init(x: nowX, y: top - 8, anchor: .middle), .init(x: nowX, y: top - 8, anchor: .start), .init(x: nowX, y: top - 8, anchor: .end),
                         .init(x: nowX, y: row2, anchor: .middle), .init(x: nowX, y: row2, anchor: .start), .init(x: nowX, y: row2, anchor: .end)], id: "now-label")
        }
        for (t, level) in levels {
            let ly = frame.y(level)
            let above = ly - 6, below = ly + ChartLayout.fontSize * 0.95 + 3
            var spots: [ChartLayout.Spot] = []
            let middle: Double = (ChartFrame.left + right) / 2
            for yy in [above, below] {
                spots.append(ChartLayout.Spot(x: right - 4, y: yy, anchor: .end))
                spots.append(ChartLayout.Spot(x: ChartFrame.left + 6, y: yy, anchor: .start))
                spots.append(ChartLayout.Spot(x: middle, y: yy, anchor: .middle))
            }
            label("\(t) % (\(HTML.credits(level)))", spots, note: "low-balance line")
        }
        s += labels + frame.dayLabels(layout: &layout) + "</svg>\n"
        if !unplaced.isEmpty {
            s += "<p class=\"muted chart-notes\">" + unplaced.map(HTML.escape).joined(separator: " · ") + "</p>\n"
        }
        // The same points as a table (screen readers, no-SVG browsers).
        s += "<details><summary>Balance by day (table)</summary><table id=\"burndown-table\"><thead><tr><th>time</th><th class=\"num\">balance</th></tr></thead><tbody>"
        for p in pts { s += "<tr><td>\(HTML.dayString(HTML.day(ofSeconds: p.0)))</td><td class=\"num\">\(HTML.credits(p.1))</td></tr>" }
        s += "</tbody></table></details>\n"
        return s
    }
}
