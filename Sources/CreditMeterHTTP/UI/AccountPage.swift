import Foundation

/// `GET /ui/accounts/{account}`: one account for people — how many credits are left, when
/// they run out, where they went. Rendered from the same JSON the API serves (the document,
/// its summary row and its history), so the page and the API can never disagree.
struct AccountPage {
    let document: [String: Any]
    let summary: [String: Any]
    let history: [[String: Any]]
    let thresholds: [Int]
    /// "?token=…" to carry on links when the token came in the query, else "".
    let tokenQuery: String

    func render() -> String {
        let id = document["account"] as? String ?? "?"
        let balance = HTML.millicredits(document["balance_credits"]) ?? 0
        let entitlement = HTML.millicredits(document["entitlement_credits"]) ?? 0
        let used = HTML.millicredits(document["used_this_cycle_credits"]) ?? 0
        let cycleStart = HTML.seconds(document["cycle_start"])
        let cycleEnd = HTML.seconds(document["cycle_end"])
        let runway = document["runway"] as? [String: Any] ?? [:]
        let exhaustedAt = HTML.seconds(runway["exhausted_at"])
        let plan = document["plan"] as? String
        var b = ""
        b += "<h1>\(HTML.escape(id))</h1>\n"
        b += "<p class=\"muted\">plan \(HTML.escape(plan ?? "none"))"
        if let cycleStart, let cycleEnd {
            b += " · cycle \(HTML.dayString(HTML.day(ofSeconds: cycleStart))) to \(HTML.dayString(HTML.day(ofSeconds: cycleEnd))) (resets \(HTML.dayString(HTML.day(ofSeconds: cycleEnd))))"
        } else {
            b += " · no billing cycle (no plan yet)"
        }
        b += " · rate card \(HTML.escape(document["rate_card_version"] as? String ?? "none"))</p>\n"

        // The three answers, first: credits left, when they run out, where they went.
        let percent = entitlement > 0 ? Double(balance) * 100 / Double(entitlement) : nil
        b += "<div class=\"cards\">"
        b += "<div class=\"card\" id=\"balance\">credits left<b>\(HTML.credits(balance))</b>"
        b += percent.map { String(format: "%.1f %% of %@", $0, HTML.credits(entitlement)) } ?? "no entitlement"
        b += "</div>"
        b += "<div class=\"card\" id=\"runway\">runs out<b>"
        if balance <= 0 {
            b += "exhausted"
        } else if let exhaustedAt {
            b += HTML.dayString(HTML.day(ofSeconds: exhaustedAt))
        } else {
            b += "not at this pace"
        }
        b += "</b>"
        if let perDay = HTML.millicredits(runway["credits_per_day"]) { b += "at \(HTML.credits(perDay)) credits/day" }
        if let before = runway["before_cycle_end"] as? Bool { b += before ? " · before the reset" : " · after the reset" }
        b += "</div>"
        b += "<div class=\"card\" id=\"used\">used this cycle<b>\(HTML.credits(used))</b>"
        if let overage = HTML.millicredits(document["overage_credits"]), overage > 0 { b += "overage \(HTML.credits(overage))" }
        b += "</div></div>\n"
        if entitlement > 0 {
            let usedShare = max(0, min(100, Double(used) * 100 / Double(entitlement)))
            b += "<p>usage <span class=\"bar\" role=\"img\" aria-label=\"\(String(format: "%.1f", usedShare)) % used\" style=\"width:360px\"><span style=\"width:\(String(format: "%.1f", usedShare))%\"></span></span>\(String(format: "%.1f", usedShare)) % of this cycle's credits used</p>\n"
        }

        b += "<h2>Burn-down this cycle</h2>\n"
        if let cycleStart, let cycleEnd {
            b += BurnDownChart(balance: balance, entitlement: entitlement, cycleStart: cycleStart, cycleEnd: cycleEnd,
                               lastEvent: HTML.seconds(summary["last_event_time"]) ?? cycleStart, exhaustedAt: exhaustedAt,
                               usageByDay: usageByDay(), allocations: allocations(from: cycleStart), thresholds: thresholds).svg()
        } else {
            b += "<p class=\"muted\">No plan yet, so no billing cycle to draw.</p>\n"
        }

        b += "<h2>Credit blocks</h2>\n" + blocks()
        b += "<h2>Usage this cycle by capability</h2>\n" + bars(document["usage"].flatMap { ($0 as? [String: Any])?["by_capability"] } as? [String: Any], label: "capability")
        b += "<h2>Usage this cycle by member</h2>\n" + bars(document["usage"].flatMap { ($0 as? [String: Any])?["by_member"] } as? [String: Any], label: "member")
        b += "<h2>Allocation history</h2>\n" + historyTable()
        b += "<h2>Alerts this cycle</h2>\n" + alertsTable()
        b += "<p><a href=\"/ui/\(tokenQuery)\">← all accounts</a> · <a href=\"/v1/accounts/\(HTML.urlEncode(id))\">JSON</a></p>"
        return HTML.page(title: "\(id) — \(HTML.credits(balance)) credits left — CreditMeter", body: b)
    }

    func usageByDay() -> [Int64: Int64] {
        var out: [Int64: Int64] = [:]
        let byDay = (document["usage"] as? [String: Any])?["by_day"] as? [String: Any] ?? [:]
        for (day, v) in byDay {
            guard let s = HTML.seconds(day + "T00:00:00Z"), let m = HTML.millicredits(v) else { continue }
            out[HTML.day(ofSeconds: s), default: 0] += m
        }
        return out
    }

    /// History entries of this cycle (time > cycle start) as (seconds, millicredits).
    func allocations(from cycleStart: Int64) -> [(Int64, Int64)] {
        history.compactMap { e in
            guard let t = HTML.seconds(e["time"]), t > cycleStart, let c = HTML.millicredits(e["credits"]) else { return nil }
            return (t, c)
        }
    }

    func blocks() -> String {
        let list = document["blocks"] as? [[String: Any]] ?? []
        let values = list.map { max(0, HTML.millicredits($0["credits"]) ?? 0) }
        let total = values.reduce(0, +)
        var svg = "<svg width=\"720\" height=\"34\" role=\"img\" aria-label=\"credit blocks\"><title>Credit blocks: \(HTML.credits(total)) credits in \(list.count) blocks</title>"
        var x = 0.0
        let shades = ["allowance": "#2f6fdf", "grant": "#7a4bd1", "topup": "#1f9d6b"]
        for (i, block) in list.enumerated() where total > 0 {
            let w = 720 * Double(values[i]) / Double(total)
            let kind = block["kind"] as? String ?? "?"
            svg += "<rect x=\"\(String(format: "%.2f", x))\" y=\"2\" width=\"\(String(format: "%.2f", w))\" height=\"30\" fill=\"\(shades[kind] ?? "#888")\" stroke=\"#fff\"><title>\(kind) \(HTML.credits(values[i]))</title></rect>"
            if w > 60 { svg += "<text x=\"\(String(format: "%.2f", x + 4))\" y=\"21\" style=\"fill:#fff\">\(kind) \(HTML.credits(values[i]))</text>" }
            x += w
        }
        svg += "</svg>\n"
        var t = "<table><thead><tr><th>kind</th><th class=\"num\">credits</th><th>expires</th></tr></thead><tbody>"
        for block in list {
            t += "<tr><td>\(HTML.escape(block["kind"] as? String ?? "?"))</td><td class=\"num\">\(HTML.credits(HTML.millicredits(block["credits"]) ?? 0))</td>"
            t += "<td>\(HTML.escape(block["expires_at"] as? String ?? "never"))</td></tr>"
        }
        if list.isEmpty { t += "<tr><td colspan=\"3\" class=\"muted\">no credit blocks</td></tr>" }
        return (total > 0 ? svg : "") + t + "</tbody></table>\n"
    }

    func bars(_ values: [String: Any]?, label: String) -> String {
        let rows = (values ?? [:]).compactMap { k, v in HTML.millicredits(v).map { (k, $0) } }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        guard let top = rows.first?.1, top > 0 else { return "<p class=\"muted\">no usage this cycle</p>\n" }
        var t = "<table><thead><tr><th>\(label)</th><th>share</th><th class=\"num\">credits</th></tr></thead><tbody>"
        for (k, v) in rows {
            let w = max(0, Double(v) * 100 / Double(top))
            t += "<tr><td>\(HTML.escape(k))</td><td><span class=\"bar\"><span style=\"width:\(String(format: "%.1f", w))%\"></span></span></td><td class=\"num\">\(HTML.credits(v))</td></tr>"
        }
        return t + "</tbody></table>\n"
    }

    func historyTable() -> String {
        var t = "<table id=\"history\"><thead><tr><th>time</th><th>what</th><th class=\"num\">credits</th><th>event</th></tr></thead><tbody>"
        for e in history {
            let c = HTML.millicredits(e["credits"]) ?? 0
            t += "<tr><td>\(HTML.escape(e["time"] as? String ?? ""))</td><td>\(HTML.escape((e["kind"] as? String ?? "").replacingOccurrences(of: "_", with: " ")))</td>"
            t += "<td class=\"num\">\(c > 0 ? "+" : "")\(HTML.credits(c))</td><td>\(HTML.escape(e["event_id"] as? String ?? ""))</td></tr>"
        }
        if history.isEmpty { t += "<tr><td colspan=\"4\" class=\"muted\">no allocations yet</td></tr>" }
        return t + "</tbody></table>\n"
    }

    func alertsTable() -> String {
        let alerts = document["alerts"] as? [[String: Any]] ?? []
        var t = "<table id=\"alerts\"><thead><tr><th>time</th><th>alert</th><th class=\"num\">threshold</th><th>id</th></tr></thead><tbody>"
        for a in alerts {
            let threshold = (a["threshold_percent"] as? NSNumber).map { "\($0.intValue) %" } ?? "—"
            t += "<tr><td>\(HTML.escape(a["time"] as? String ?? ""))</td><td>\(HTML.escape(a["type"] as? String ?? ""))</td>"
            t += "<td class=\"num\">\(threshold)</td><td>\(HTML.escape(a["id"] as? String ?? ""))</td></tr>"
        }
        if alerts.isEmpty { t += "<tr><td colspan=\"4\" class=\"muted\">no alerts this cycle</td></tr>" }
        return t + "</tbody></table>\n"
    }
}
