import Foundation

/// This cycle's usage per UTC day as columns (the account document's `usage.by_day`), on the
/// burn-down's time axis: a day without usage has no column. Amounts are integer
/// millicredits; a `<table>` repeats the days for screen readers.
struct DailyUsageChart {
    let cycleStart: Int64
    let cycleEnd: Int64
    /// Usage per UTC day number (millicredits).
    let usageByDay: [Int64: Int64]

    func svg() -> String {
        let days = usageByDay.keys.sorted()
        let top = usageByDay.values.max() ?? 0
        let frame = ChartFrame(start: cycleStart, end: cycleEnd, low: usageByDay.values.min() ?? 0, high: top)
        let f = ChartLayout.f
        var layout = ChartLayout(width: ChartFrame.width, height: ChartFrame.height)
        let total = usageByDay.values.reduce(Int128(0)) { $0 + Int128($1) }
        var s = ChartFrame.open(id: "daily-usage", label: "Usage per day this cycle: \(HTML.credits(Int64(clamping: total))) credits on \(days.count) days")
        s += frame.axes(unit: "credits a day", layout: &layout)
        let dayWidth = frame.plotWidth * 86_400 / Double(frame.end - frame.start)
        for d in days {
            let amount = usageByDay[d] ?? 0
            // The column covers the part of the day inside the cycle.
            let x0 = frame.x(max(cycleStart, d * 86_400)), x1 = min(frame.x(min(cycleEnd, (d + 1) * 86_400)), x0 + dayWidth)
            let w = max(1, (x1 - x0) * 0.8)
            let y0 = min(frame.y(amount), frame.yZero), h = max(abs(frame.y(amount) - frame.yZero), amount != 0 ? 1 : 0)
            s += "<rect class=\"day\" x=\"\(f(x0 + (x1 - x0 - w) / 2))\" y=\"\(f(y0))\" width=\"\(f(w))\" height=\"\(f(h))\" fill=\"#2f6fdf\">"
            s += "<title>\(HTML.dayString(d)): \(HTML.credits(amount)) credits</title></rect>"
            layout.avoid(.init(x0: x0, y0: y0, x1: x0 + w, y1: y0 + h))
        }
        // The busiest day, labelled on its column.
        if let busiest = days.max(by: { (usageByDay[$0] ?? 0, $1) < (usageByDay[$1] ?? 0, $0) }), top > 0 {
            let x = frame.x(max(cycleStart, busiest * 86_400)) + dayWidth / 2
            let text = "busiest: \(HTML.credits(top)) on \(HTML.shortDay(busiest))"
            if let spot = layout.place(text, ChartLayout.around(x, frame.y(top), gap: dayWidth / 2 + 3)) {
                s += ChartLayout.text(text, at: spot, id: "busiest-label")
            }
        }
        s += frame.dayLabels(layout: &layout) + "</svg>\n"
        s += "<details><summary>Usage by day (table)</summary><table id=\"daily-usage-table\"><thead><tr><th>day</th><th class=\"num\">credits</th></tr></thead><tbody>"
        for d in days { s += "<tr><td>\(HTML.dayString(d))</td><td class=\"num\">\(HTML.credits(usageByDay[d] ?? 0))</td></tr>" }
        s += "</tbody></table></details>\n"
        return s
    }
}
