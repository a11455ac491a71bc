import Foundation

/// Places a chart's text labels so that no two overlap, none crosses a drawn line and none
/// leaves the SVG's viewBox. The server cannot measure text, so a label's box is estimated
/// from its characters with widths at or above those of the wide sans-serif fonts a browser
/// falls back to (DejaVu Sans): the real box fits inside the estimate. Each label comes with
/// candidate positions in order of preference; the first free one wins, and a label with no
/// free position is left out of the chart (the caller lists it beside the chart instead).
struct ChartLayout {
    struct Box {
        var x0, y0, x1, y1: Double

        func intersects(_ o: Box) -> Bool { x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1 }

        /// Whether the segment (a, b) passes through the box (Liang–Barsky clipping).
        func crosses(_ a: (Double, Double), _ b: (Double, Double)) -> Bool {
            var t0 = 0.0, t1 = 1.0
            let dx = b.0 - a.0, dy = b.1 - a.1
            for (p, q) in [(-dx, a.0 - x0), (dx, x1 - a.0), (-dy, a.1 - y0), (dy, y1 - a.1)] {
                if p == 0 {
                    if q < 0 { return false }
                } else {
                    let r = q / p
                    if p < 0 { if r > t1 { return false }; t0 = max(t0, r) } else { if r < t0 { return false }; t1 = min(t1, r) }
                }
            }
            return t0 <= t1
        }
    }

    enum Anchor: String { case start, middle, end }

    /// A label position: the text's baseline point and its anchor (SVG `text-anchor`).
    struct Spot {
        var x: Double, y: Double, anchor: Anchor
    }

    /// Label font size in viewBox units (the charts set it on their `<text>` elements).
    static let fontSize = 13.0

    let bounds: Box
    private(set) var boxes: [Box] = []
    private(set) var lines: [((Double, Double), (Double, Double))] = []
    /// Lines a label avoids when it can (grid lines): crossed only when nothing else is free.
    private(set) var softLines: [((Double, Double), (Double, Double))] = []

    init(width: Double, height: Double) { bounds = Box(x0: 0, y0: 0, x1: width, y1: height) }

    /// The estimated width of `text` at `fontSize`: per character, an upper bound of the
    /// advance in DejaVu Sans (the widest common fallback), in ems.
    static func width(_ text: String) -> Double {
        var ems = 0.0
        for c in text.unicodeScalars {
            switch c {
            case "0"..."9": ems += 0.64
            case " ", ".", ",", ":", ";", "'", "(", ")", "i", "j", "l", "|", "!": ems += 0.40
            case "m", "w", "%", "M", "W": ems += 1.0
            case "A"..."Z": ems += 0.78
            case "a"..."z": ems += 0.64
            default: ems += 0.84  // "−", "≈", "·", dashes, anything else
            }
        }
        return ems * fontSize
    }

    /// The box `text` occupies at `spot`, with a little air around it.
    static func box(_ text: String, at spot: Spot) -> Box {
        let w = width(text), pad = 2.0
        let x0: Double
        switch spot.anchor {
        case .start: x0 = spot.x
        case .middle: x0 = spot.x - w / 2
        case .end: x0 = spot.x - w
        }
        // Ascent 0.95 em and descent 0.3 em bound the common fonts' (DejaVu Sans: 0.93, 0.24).
        return Box(x0: x0 - pad, y0: spot.y - fontSize * 0.95 - 1, x1: x0 + w + pad, y1: spot.y + fontSize * 0.3 + 1)
    }

    /// A drawn line that labels must not cross.
    mutating func avoid(_ a: (Double, Double), _ b: (Double, Double)) { lines.append((a, b)) }

    /// A grid line: labels avoid it when they can.
    mutating func prefer(notCrossing a: (Double, Double), _ b: (Double, Double)) { softLines.append((a, b)) }

    /// An area labels must not cover (a marker, a bar).
    mutating func avoid(_ box: Box) { boxes.append(box) }

    func isFree(_ b: Box, soft: Bool) -> Bool {
        b.x0 >= bounds.x0 && b.y0 >= bounds.y0 && b.x1 <= bounds.x1 && b.y1 <= bounds.y1
            && !boxes.contains { $0.intersects(b) } && !lines.contains { b.crosses($0.0, $0.1) }
            && !(soft && softLines.contains { b.crosses($0.0, $0.1) })
    }

    /// The first free spot among `candidates` for `text` (clear of grid lines if one is),
    /// taken (later labels avoid it); nil when none is free.
    mutating func place(_ text: String, _ candidates: [Spot]) -> Spot? {
        for soft in [true, false] {
            for spot in candidates {
                let b = Self.box(text, at: spot)
                if isFree(b, soft: soft) {
                    boxes.append(b)
                    return spot
                }
            }
        }
        return nil
    }

    /// `<text>` for a placed label.
    static func text(_ text: String, at spot: Spot, id: String? = nil, cssClass: String? = nil) -> String {
        var s = "<text"
        if let id { s += " id=\"\(id)\"" }
        if let cssClass { s += " class=\"\(cssClass)\"" }
        s += " x=\"\(f(spot.x))\" y=\"\(f(spot.y))\""
        if spot.anchor != .start { s += " text-anchor=\"\(spot.anchor.rawValue)\"" }
        return s + ">\(HTML.escape(text))</text>"
    }

    static func f(_ v: Double) -> String { String(format: "%.2f", v) }

    /// Candidate spots around a point (above first, then below; right first, then left),
    /// stepping further away one line at a time.
    static func around(_ x: Double, _ y: Double, gap: Double = 7, preferLeft: Bool = false) -> [Spot] {
        var out: [Spot] = []
        for step in 0..<4 {
            let up = y - gap - Double(step) * (fontSize + 3)
            let down = y + gap + fontSize * 0.95 + Double(step) * (fontSize + 3)
            let sides: [Spot] = [Spot(x: x + gap, y: up, anchor: .start), Spot(x: x - gap, y: up, anchor: .end),
                                 Spot(x: x + gap, y: down, anchor: .start), Spot(x: x - gap, y: down, anchor: .end)]
            out += preferLeft ? [sides[1], sides[0], sides[3], sides[2]] : sides
        }
        return out
    }

    // MARK: Axes

    /// A round step (1, 2 or 5 × 10ⁿ millicredits, at least 1) giving at most `count` steps over `range`.
    static func niceStep(_ range: Int64, count: Int64) -> Int64 {
        var magnitude: Int64 = 1
        while true {
            for m: Int64 in [1, 2, 5] {
                let (step, overflow) = magnitude.multipliedReportingOverflow(by: m)
                if overflow || range / step <= count { return overflow ? .max / 4 : step }
            }
            let (next, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            if overflow { return .max / 4 }
            magnitude = next
        }
    }

    /// UTC day ticks from `firstDay` to `lastDay`: 1, 2, 7, 14 or 28 days apart, at most `count`.
    static func dayTicks(_ firstDay: Int64, _ lastDay: Int64, count: Int64) -> [Int64] {
        let days = max(1, lastDay - firstDay)
        let step: Int64 = ([1, 2, 7, 14, 28, 56, 91, 182, 364] as [Int64]).first { days / $0 < count } ?? max(1, days / count)
        return Array(stride(from: firstDay, through: lastDay, by: Int(step)))
    }
}

/// A chart's plot area and scales: time (seconds) across, millicredits up, with round
/// ticks on both axes and a unit on the vertical one.
struct ChartFrame {
    static let width = 520.0, height = 320.0
    static let left = 60.0, right = 22.0, top = 34.0, bottom = 52.0
    static var plotRight: Double { width - right }
    static var plotBottom: Double { height - bottom }

    let start: Int64, end: Int64
    /// The vertical scale: `lo`…`hi` millicredits, ticks every `step`.
    let lo: Int64, hi: Int64, step: Int64

    /// Scales from `start` to `end` (seconds) and over `low`…`high` millicredits (0 included).
    init(start: Int64, end: Int64, low: Int64, high: Int64) {
        self.start = start
        self.end = max(end, start + 1)
        let dataLo = min(0, low), dataHi = max(high, dataLo + 1000, 0)
        let step = ChartLayout.niceStep(Int64(clamping: Int128(dataHi) - Int128(dataLo)), count: 5)
        self.step = step
        var floor = Int128(dataLo) / Int128(step) * Int128(step)  // rounds towards 0: one step lower for negatives
        if floor > Int128(dataLo) { floor -= Int128(step) }
        lo = Int64(clamping: floor)
        hi = Int64(clamping: (Int128(dataHi) + Int128(step) - 1) / Int128(step) * Int128(step))
    }

    var plotWidth: Double { Self.plotRight - Self.left }
    var plotHeight: Double { Self.plotBottom - Self.top }
    var pxPerMilli: Double { plotHeight / Double(Int128(hi) - Int128(lo)) }
    /// The y of 0 credits.
    var yZero: Double { Self.plotBottom + Double(lo) * pxPerMilli }

    func x(_ t: Int64) -> Double { Self.left + plotWidth * Double(t - start) / Double(end - start) }
    func y(_ m: Int64) -> Double { yZero - Double(m) * pxPerMilli }

    /// `<svg …>` opening a chart that scales to its container's width.
    static func open(id: String, label: String, extra: String = "") -> String {
        "<svg id=\"\(id)\" class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\" "
            + "role=\"img\" \(extra)aria-labelledby=\"\(id)-title\"><title id=\"\(id)-title\">\(label)</title>"
    }

    /// The axes: grid lines and credit labels up the left with the unit on top, day labels
    /// along the bottom (`Nov 8`). Labels are placed in `layout` before any other.
    func axes(unit: String, layout: inout ChartLayout) -> String {
        let f = ChartLayout.f
        var s = ""
        var labels = ""
        if let spot = layout.place(unit, [.init(x: 4, y: 16, anchor: .start)]) { labels += ChartLayout.text(unit, at: spot, cssClass: "unit") }
        var v = lo
        while v <= hi {
            let yy = y(v)
            s += "<line class=\"grid\" x1=\"\(f(Self.left))\" y1=\"\(f(yy))\" x2=\"\(f(Self.plotRight))\" y2=\"\(f(yy))\" stroke=\"\(v == 0 ? "#888" : "#e3e6ea")\"/>"
            if v == 0 { layout.avoid((Self.left, yy), (Self.plotRight, yy)) } else { layout.prefer(notCrossing: (Self.left, yy), (Self.plotRight, yy)) }
            let text = HTML.credits(v)
            if let spot = layout.place(text, [.init(x: Self.left - 6, y: yy + 4, anchor: .end)]) { labels += ChartLayout.text(text, at: spot) }
            let (next, overflow) = v.addingReportingOverflow(step)
            if overflow { break }
            v = next
        }
        s += "<line x1=\"\(f(Self.left))\" y1=\"\(f(Self.top))\" x2=\"\(f(Self.left))\" y2=\"\(f(Self.plotBottom))\" stroke=\"#888\"/>"
        layout.avoid((Self.left, Self.top), (Self.left, Self.plotBottom))
        layout.avoid((Self.left, Self.plotBottom), (Self.plotRight, Self.plotBottom))
        return s + labels
    }

    /// Day labels along the bottom, after the chart's own labels (a day label gives way).
    func dayLabels(layout: inout ChartLayout) -> String {
        let f = ChartLayout.f
        var s = ""
        let firstDay = HTML.day(ofSeconds: start), lastDay = HTML.day(ofSeconds: end - 1)
        for d in ChartLayout.dayTicks(firstDay, lastDay, count: 6) {
            let t = max(start, d * 86_400)
            let xx = x(t)
            s += "<line x1=\"\(f(xx))\" y1=\"\(f(Self.plotBottom))\" x2=\"\(f(xx))\" y2=\"\(f(Self.plotBottom + 4))\" stroke=\"#888\"/>"
            let text = HTML.shortDay(d)
            let row = Self.plotBottom + 16
            if let spot = layout.place(text, [.init(x: xx, y: row, anchor: .middle), .init(x: xx, y: row, anchor: .start), .init(x: xx, y: row, anchor: .end)]) {
                s += ChartLayout.text(text, at: spot)
            }
        }
        return s
    }
}
