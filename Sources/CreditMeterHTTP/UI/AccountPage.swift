import CreditEngine
import Foundation

/// `GET /ui/accounts/{account}`: one account for people — how many credits are left, when
/// they run out, where they went. Rendered from the same `AccountView` the API serves, with
/// every amount an integer number of millicredits (floating point only for pixel positions).
struct AccountPage {
    let view: AccountView
    let thresholds: [Int]

    /// Event-time nanoseconds → seconds (the pages work in seconds and UTC days).
    static func seconds(_ nanos: Int64) -> Int64 { EventTime.floorDiv(nanos, EventTime.nanosPerSecond) }
    static func day(_ nanos: Int64) -> String { HTML.dayString(HTML.day(ofSeconds: seconds(nanos))) }

    func render(backLink: String) -> String {
        let a = view.state
        let id = view.account
        let balance = a.balance
        let entitlement = a.entitlement
        let used = a.usedThisCycle
        let runway = a.runway
        var b = ""
        b += "<h1>\(HTML.escape(id))</h1>\n"
        b += "<p class=\"muted\">plan \(HTML.escape(view.plan ?? "none"))"
        if a.hasPlan {
            b += " · cycle \(Self.day(a.cycleStart)) to \(Self.day(a.cycleEnd)) (resets \(Self.day(a.cycleEnd)))"
        } else {
            b += " · no billing cycle (no plan yet)"
        }
        b += " · rate card \(HTML.escape(view.rateCardVersion ?? "none"))</p>\n"

        // The three answers, first: credits left, when they run out, where they went.
        b += "<div class=\"cards\">"
        b += "<div class=\"card\" id=\"balance\">credits left<b>\(HTML.credits(balance))</b>"
        b += view.remainingPermille.map { "\(HTML.permille($0)) % of \(HTML.credits(entitlement))" } ?? "no entitlement"
        b += "</div>"
        b += "<div class=\"card\" id=\"runway\">runs out<b>"
        if balance <= 0 {
            b += "exhausted"
        } else if let e = runway.exhaustedAt {
            b += Self.day(e)
        } else {
            b += "not at this pace"
        }
        b += "</b>"
        if runway.creditsPerDay > 0 { b += "at \(HTML.credits(runway.creditsPerDay)) credits/day" }
        if let before = runway.beforeCycleEnd { b += before ? " · before the reset" : " · after the reset" }
        b += "</div>"
        b += "<div class=\"card\" id=\"used\">used this cycle<b>\(HTML.credits(used))</b>"
        if a.overage > 0 { b += "overage \(HTML.credits(a.overage))" }
        b += "</div></div>\n"
        if entitlement > 0 {
            // Tenths of a percent used, in integers, clamped to the bar.
            let share = max(0, min(1000, Int64(clamping: Int128(used) * 1000 / Int128(entitlement))))
            b += "<p>usage <span class=\"bar\" role=\"img\" aria-label=\"\(HTML.permille(share)) % used\" style=\"width:360px\"><span style=\"width:\(HTML.permille(share))%\"></span></span>\(HTML.permille(share)) % of this cycle's credits used</p>\n"
        }

        b += "<h2>Burn-down this cycle</h2>\n"
        if a.hasPlan {
            var byDay: [Int64: Int64] = [:]
            for (d, amount) in a.usageByDay { byDay[d, default: 0] &+= amount }
            let allocations = view.history.compactMap { h -> (Int64, Int64)? in
                let t = Self.seconds(h.time)
                return t > Self.seconds(a.cycleStart) ? (t, h.credits) : nil
            }
            b += BurnDownChart(balance: balance, entitlement: entitlement, cycleStart: Self.seconds(a.cycleStart),
                               cycleEnd: Self.seconds(a.cycleEnd), lastEvent: a.clock == .min ? Self.seconds(a.cycleStart) : Self.seconds(a.clock),
                               exhaustedAt: runway.exhaustedAt.map(Self.seconds), usageByDay: byDay, allocations: allocations,
                               thresholds: thresholds).svg()
        } else {
            b += "<p class=\"muted\">No plan yet, so no billing cycle to draw.</p>\n"
        }

        b += "<h2>Credit blocks</h2>\n" + blocks()
        b += "<h2>Usage this cycle by capability</h2>\n" + bars(view.byCapability.map { ($0.name, $0.credits) }, label: "capability")
        b += "<h2>Usage this cycle by member</h2>\n" + bars(view.byMember.map { ($0.name, $0.credits) }, label: "member")
        if !view.memberBudgets.isEmpty { b += "<h2>Member budgets</h2>\n" + budgets() }
        b += "<h2>Allocation history</h2>\n" + historyTable()
        b += "<h2>Alerts this cycle</h2>\n" + alertsTable()
        b += "<p><a href=\"\(HTML.escape(backLink))\">← all accounts</a></p>"
        return HTML.page(title: "\(id) — \(HTML.credits(balance)) credits left — CreditMeter", body: b)
    }

    func blocks() -> String {
        let a = view.state
        var list: [(String, Int64, Int64?)] = []
        if a.hasPlan { list.append(("allowance", a.allowance, a.cycleEnd)) }
        for blk in a.blocks { list.append((blk.kind.name, blk.remaining, blk.expiresAt == .max ? nil : blk.expiresAt)) }
        let total = list.reduce(Int128(0)) { $0 + Int128(max(0, $1.1)) }
        var svg = "<svg width=\"720\" height=\"34\" role=\"img\" aria-label=\"credit blocks\"><title>Credit blocks: \(HTML.credits(Int64(clamping: total))) credits in \(list.count) blocks</title>"
        var x = 0.0
        let shades = ["allowance": "#2f6fdf", "grant": "#7a4bd1", "topup": "#1f9d6b"]
        for (kind, credits, _) in list where total > 0 && credits > 0 {
            let w = 720 * Double(Int128(credits) * 1_000_000 / total) / 1_000_000
            svg += "<rect x=\"\(String(format: "%.2f", x))\" y=\"2\" width=\"\(String(format: "%.2f", w))\" height=\"30\" fill=\"\(shades[kind] ?? "#888")\" stroke=\"#fff\"><title>\(HTML.escape(kind)) \(HTML.credits(credits))</title></rect>"
            if w > 60 { svg += "<text x=\"\(String(format: "%.2f", x + 4))\" y=\"21\" style=\"fill:#fff\">\(HTML.escape(kind)) \(HTML.credits(credits))</text>" }
            x += w
        }
        svg += "</svg>\n"
        var t = "<table><thead><tr><th>kind</th><th class=\"num\">credits</th><th>expires</th></tr></thead><tbody>"
        for (kind, credits, expires) in list {
            t += "<tr><td>\(HTML.escape(kind))</td><td class=\"num\">\(HTML.credits(credits))</td>"
            t += "<td>\(expires.map { HTML.escape(EventTime.format($0)) } ?? "never")</td></tr>"
        }
        if list.isEmpty { t += "<tr><td colspan=\"3\" class=\"muted\">no credit blocks</td></tr>" }
        return (total > 0 ? svg : "") + t + "</tbody></table>\n"
    }

    func bars(_ values: [(String, Int64)], label: String) -> String {
        let rows = values.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        guard let top = rows.first?.1, top > 0 else { return "<p class=\"muted\">no usage this cycle</p>\n" }
        var t = "<table><thead><tr><th>\(label)</th><th>share</th><th class=\"num\">credits</th></tr></thead><tbody>"
        for (k, v) in rows {
            let w = max(0, Int64(clamping: Int128(v) * 1000 / Int128(top)))
            t += "<tr><td>\(HTML.escape(k))</td><td><span class=\"bar\"><span style=\"width:\(HTML.permille(w))%\"></span></span></td><td class=\"num\">\(HTML.credits(v))</td></tr>"
        }
        return t + "</tbody></table>\n"
    }

    func budgets() -> String {
        var t = "<table><thead><tr><th>member</th><th class=\"num\">used</th><th class=\"num\">budget</th></tr></thead><tbody>"
        for m in view.memberBudgets {
            t += "<tr><td>\(HTML.escape(m.member))</td><td class=\"num\">\(HTML.credits(m.used))</td><td class=\"num\">\(HTML.credits(m.budget))</td></tr>"
        }
        return t + "</tbody></table>\n"
    }

    func historyTable() -> String {
        var t = "<table id=\"history\"><thead><tr><th>time</th><th>what</th><th class=\"num\">credits</th><th>event</th></tr></thead><tbody>"
        for e in view.history.reversed() {
            t += "<tr><td>\(HTML.escape(EventTime.format(e.time)))</td><td>\(HTML.escape(e.kind.name.replacingOccurrences(of: "_", with: " ")))</td>"
            t += "<td class=\"num\">\(e.credits > 0 ? "+" : "")\(HTML.credits(e.credits))</td><td>\(HTML.escape(e.eventID))</td></tr>"
        }
        if view.history.isEmpty { t += "<tr><td colspan=\"4\" class=\"muted\">no allocations yet</td></tr>" }
        return t + "</tbody></table>\n"
    }

    func alertsTable() -> String {
        var t = "<table id=\"alerts\"><thead><tr><th>time</th><th>alert</th><th class=\"num\">threshold</th><th>id</th></tr></thead><tbody>"
        for a in view.alerts {
            t += "<tr><td>\(HTML.escape(EventTime.format(a.time)))</td><td>\(HTML.escape(a.type))</td>"
            t += "<td class=\"num\">\(a.thresholdPercent.map { "\($0) %" } ?? "—")</td><td>\(HTML.escape(a.id))</td></tr>"
        }
        if view.alerts.isEmpty { t += "<tr><td colspan=\"4\" class=\"muted\">no alerts this cycle</td></tr>" }
        return t + "</tbody></table>\n"
    }
}
