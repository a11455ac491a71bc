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
        var b = ""
        b += "<h1>\(HTML.escape(id))</h1>\n"
        b += "<p class=\"muted\" id=\"plan-line\">\(planLine())"
        if a.hasPlan {
            b += " · cycle \(Self.day(a.cycleStart)) to \(Self.day(a.cycleEnd))"
        } else {
            b += " · no billing cycle (no plan yet)"
        }
        b += " · rate card \(HTML.escape(view.rateCardVersion ?? "none"))</p>\n"

        // The three answers, first: credits left, when they run out, where they went.
        b += "<div class=\"cards\">"
        b += "<div class=\"card\" id=\"balance\">credits left<b>\(HTML.credits(balance))</b>"
        b += view.remainingPermille.map { "\(HTML.permille($0)) % of \(HTML.credits(entitlement))" } ?? "no entitlement"
        if let book = a.holdBook, book.activeCount > 0 {
            b += "<br><span id=\"available\">\(HTML.credits(a.availableCredits)) available · \(HTML.credits(book.activeRemaining)) on hold</span>"
        }
        b += "</div>"
        b += runwayCard()
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
            let allocations = view.history.compactMap { h -> (Int64, Int64)? in
                let t = Self.seconds(h.time)
                return t > Self.seconds(a.cycleStart) ? (t, h.credits) : nil
            }
            b += BurnDownChart(balance: balance, entitlement: entitlement, cycleStart: Self.seconds(a.cycleStart),
                               cycleEnd: Self.seconds(a.cycleEnd), lastEvent: a.clock == .min ? Self.seconds(a.cycleStart) : Self.seconds(a.clock),
                               exhaustedAt: a.runway.exhaustedAt.map(Self.seconds), usageByDay: usageByDay, allocations: allocations,
                               thresholds: thresholds).svg()
            b += "<h2>Usage per day this cycle</h2>\n"
            b += usageByDay.isEmpty ? "<p class=\"muted\">no usage this cycle</p>\n"
                : DailyUsageChart(cycleStart: Self.seconds(a.cycleStart), cycleEnd: Self.seconds(a.cycleEnd), usageByDay: usageByDay).svg()
        } else {
            b += "<p class=\"muted\">No plan yet, so no billing cycle to draw.</p>\n"
        }

        b += "<h2>Plan and money</h2>\n" + money()
        b += "<h2>Auto top-up</h2>\n" + autoTopup()
        b += "<h2>Holds</h2>\n" + holdsTable()
        b += "<h2>Credit blocks</h2>\n" + blocks()
        b += "<h2>Usage this cycle by capability</h2>\n" + bars(view.byCapability.map { ($0.name, $0.credits) }, label: "capability")
        b += "<h2>Usage this cycle by member</h2>\n" + bars(view.byMember.map { ($0.name, $0.credits) }, label: "member")
        if !view.memberBudgets.isEmpty { b += "<h2>Member budgets</h2>\n" + budgets() }
        b += "<h2>Allocation history</h2>\n" + historyTable()
        b += "<h2>Alerts this cycle</h2>\n" + alertsTable()
        b += "<p><a href=\"\(HTML.escape(backLink))\">← all accounts</a></p>"
        return HTML.page(title: "\(id) — \(HTML.credits(balance)) credits left — CreditMeter", body: b)
    }

    /// Usage per UTC day number this cycle (millicredits).
    var usageByDay: [Int64: Int64] {
        var byDay: [Int64: Int64] = [:]
        for (d, amount) in view.state.usageByDay { byDay[d, default: 0] &+= amount }
        return byDay
    }

    /// The plan price book entry, when the account is on a price-book plan.
    var bookPlan: PriceBook.Plan? {
        let p = view.state.plan
        return p >= 0 && Int(p) < view.config.priceBook.plans.count ? view.config.priceBook.plans[Int(p)] : nil
    }

    /// "plan basic: 500 credits a month for 39 USD".
    func planLine() -> String {
        let a = view.state
        guard a.hasPlan else { return "no plan" }
        var s = "plan <b>\(HTML.escape(view.plan ?? "custom"))</b>: \(HTML.credits(a.monthly)) credits a month"
        if let plan = bookPlan { s += plan.priceMicros == 0 ? ", free" : " for \(HTML.escape(HTML.money(plan.priceMicros, scale: 6, currency: view.config.priceBook.currency)))" }
        return s
    }

    /// When the credits run out, told against the reset: a date past the reset is not when
    /// the credits run out, because the allowance is forfeited and starts again there (the
    /// allowance burns first: what is left of it at the reset is what the pace has not used).
    func runwayCard() -> String {
        let a = view.state
        let runway = a.runway
        let balance = a.balance
        let pace = runway.creditsPerDay > 0 ? "at \(HTML.credits(runway.creditsPerDay)) credits/day" : nil
        let reset = a.hasPlan ? "the allowance resets on \(Self.day(a.cycleEnd)) (to \(HTML.credits(a.monthly)) credits)" : nil
        var headline: String
        var lines: [String] = []
        if balance <= 0 {
            headline = "exhausted"
            if let reset { lines.append("until " + reset) }
        } else if let e = runway.exhaustedAt {
            if !a.hasPlan || e < a.cycleEnd {
                headline = "runs out \(Self.day(e))"
                var line = pace ?? ""
                if a.hasPlan {
                    let days = (a.cycleEnd - e) / EventTime.nanosPerDay
                    line += " · " + (days == 0 ? "less than a day" : "\(days) day\(days == 1 ? "" : "s")") + " before " + (reset ?? "")
                }
                lines.append(line)
            } else {
                headline = "lasts this cycle"
                let now = a.clock
                // Balance at the reset at this pace, and the part of it that is allowance.
                let left = Int64(clamping: Int128(balance) * Int128(e - a.cycleEnd) / Int128(max(1, e - now)))
                let spent = balance - left
                let allowanceLeft = max(0, a.allowance - spent)
                lines.append((pace.map { $0 + ": " } ?? "") + "≈\(HTML.credits(HTML.roundedToCredits(left))) left when " + (reset ?? ""))
                if allowanceLeft > 0 {
                    let rollover = min(allowanceLeft, a.features?.rolloverMax ?? 0)
                    var line = "≈\(HTML.credits(HTML.roundedToCredits(allowanceLeft))) of them unused allowance, forfeited then"
                    if rollover > 0 { line += " (up to \(HTML.credits(a.features?.rolloverMax ?? 0)) roll over)" }
                    lines.append(line)
                }
                lines.append("at today's pace this cycle's credits would last until \(Self.day(e)) without the reset")
            }
        } else {
            headline = "no recent usage"
            if let reset { lines.append(reset) }
        }
        var s = "<div class=\"card\" id=\"runway\">runway<b>\(HTML.escape(headline))</b>"
        for line in lines where !line.isEmpty { s += "<small>\(HTML.escape(line))</small>" }
        return s + "</div>"
    }

    /// Plan, price and the money the account document carries (paid, provider cost, margin).
    func money() -> String {
        let a = view.state
        let currency = view.config.priceBook.currency
        var rows: [(String, String)] = []
        if let plan = bookPlan {
            rows.append(("plan", "\(plan.id): \(HTML.credits(plan.monthlyCredits)) credits a month"))
            rows.append(("plan price", plan.priceMicros == 0 ? "free" : HTML.money(plan.priceMicros, scale: 6, currency: currency) + " a month"))
        } else if a.hasPlan {
            rows.append(("plan", "custom: \(HTML.credits(a.monthly)) credits a month"))
        } else {
            rows.append(("plan", "none"))
        }
        if let cap = a.features?.rolloverMax, cap > 0 { rows.append(("rollover", "up to \(HTML.credits(cap)) unused credits a cycle")) }
        rows.append(("credits bought", HTML.credits(a.creditsBought)))
        rows.append(("paid", HTML.money(a.moneyPaidMicros, scale: 6, currency: currency)))
        if a.creditsBought > 0 {
            let perCredit = Int64(clamping: Int128(a.moneyPaidMicros) * 1000 / Int128(a.creditsBought))
            rows.append(("price per credit", HTML.money(perCredit, scale: 6, currency: currency)))
        }
        rows.append(("provider cost", HTML.money(a.costNanoUSD, scale: 9, currency: currency)))
        rows.append(("margin", HTML.money(Int64(clamping: Int128(a.moneyPaidMicros) * 1000 - Int128(a.costNanoUSD)), scale: 9, currency: currency)))
        return Self.facts(rows, id: "money")
    }

    /// The auto top-up policy, when set.
    func autoTopup() -> String {
        let a = view.state
        guard let x = a.features, let p = x.autoTopup else { return "<p class=\"muted\" id=\"auto-topup\">no auto top-up</p>\n" }
        let book = view.config.priceBook
        var rows: [(String, String)] = []
        if p.pack >= 0, Int(p.pack) < book.packs.count {
            let pack = book.packs[Int(p.pack)]
            rows.append(("pack", "\(pack.id): \(HTML.credits(pack.credits)) credits for \(HTML.money(pack.priceMicros, scale: 6, currency: book.currency))"))
        }
        rows.append(("requests", "\(HTML.credits(p.credits)) credits when the balance falls below \(HTML.credits(p.below))"))
        rows.append(("this cycle", "\(x.requestsInCycle) of at most \(p.maxPerCycle) requests" + (x.requestPending ? " · one pending" : "")))
        return Self.facts(rows, id: "auto-topup")
    }

    static func facts(_ rows: [(String, String)], id: String) -> String {
        var s = "<dl class=\"facts\" id=\"\(id)\">"
        for (k, v) in rows { s += "<dt>\(HTML.escape(k))</dt><dd>\(HTML.escape(v))</dd>" }
        return s + "</dl>\n"
    }

    func blocks() -> String {
        let a = view.state
        var list: [(String, Int64, Int64?)] = []
        if a.hasPlan { list.append(("allowance", a.allowance, a.cycleEnd)) }
        for blk in a.blocks { list.append((blk.kind.name, blk.remaining, blk.expiresAt == .max ? nil : blk.expiresAt)) }
        let total = list.reduce(Int128(0)) { $0 + Int128(max(0, $1.1)) }
        // A stacked bar as flexible boxes (widths in tenths of a percent, integers), so it
        // fits any width; a label that does not fit its box is cut with an ellipsis, and the
        // table below repeats every block.
        var bar = "<div class=\"stack\" role=\"img\" aria-label=\"Credit blocks: \(HTML.credits(Int64(clamping: total))) credits in \(list.count) blocks\">"
        let shades = ["allowance": "#2f6fdf", "grant": "#7a4bd1", "topup": "#1f9d6b"]
        for (kind, credits, _) in list where total > 0 && credits > 0 {
            let share = Int64(clamping: Int128(credits) * 1000 / total)
            let label = "\(HTML.escape(kind)) \(HTML.credits(credits))"
            bar += "<span style=\"flex:\(max(1, share)) 1 0;background:\(shades[kind] ?? "#888")\" title=\"\(label)\">\(label)</span>"
        }
        bar += "</div>\n"
        var t = "<table><thead><tr><th>kind</th><th class=\"num\">credits</th><th>expires</th></tr></thead><tbody>"
        for (kind, credits, expires) in list {
            t += "<tr><td>\(HTML.escape(kind))</td><td class=\"num\">\(HTML.credits(credits))</td>"
            t += "<td>\(expires.map(HTML.time) ?? "never")</td></tr>"
        }
        if list.isEmpty { t += "<tr><td colspan=\"3\" class=\"muted\">no credit blocks</td></tr>" }
        return (total > 0 ? bar : "") + t + "</tbody></table>\n"
    }

    /// Open holds (§15), newest first, then the latest ended ones (at most `endedShown`).
    static let endedShown = 10

    func holdsTable() -> String {
        let book = view.state.holdBook
        let holds = book?.holds ?? []
        let open = holds.filter(\.isActive).reversed()
        let ended = holds.filter { !$0.isActive }.suffix(Self.endedShown).reversed()
        var t = "<p class=\"muted\">Credits reserved by work in progress: spent against as the work runs, the rest released at its end. "
        t += "Available = balance − what open holds still reserve: \(HTML.credits(view.state.availableCredits)).</p>\n"
        t += "<table id=\"holds\"><thead><tr><th>hold</th><th>workflow</th><th>status</th><th class=\"num\">held</th>"
        t += "<th class=\"num\">settled</th><th class=\"num wide\">remaining</th><th>expires</th></tr></thead><tbody>"
        for h in open { t += holdRow(h) }
        if open.isEmpty { t += "<tr><td colspan=\"7\" class=\"muted\">no open holds</td></tr>" }
        for h in ended { t += holdRow(h) }
        return t + "</tbody></table>\n"
    }

    func holdRow(_ h: Hold) -> String {
        let status = h.status == .denied ? "denied (\(h.denial.map { $0.name.replacingOccurrences(of: "_", with: " ") } ?? ""))" : h.status.name
        var r = "<tr class=\"hold-\(h.status.name)\"><td>\(HTML.escape(h.id))</td><td>\(HTML.escape(h.workflow ?? "—"))</td>"
        r += "<td>\(HTML.escape(status))</td><td class=\"num\">\(HTML.credits(h.held))</td><td class=\"num\">\(HTML.credits(h.settled))</td>"
        r += "<td class=\"num wide\">\(h.isActive ? HTML.credits(h.remaining) : "—")</td>"
        r += "<td>\(h.isActive ? HTML.time(h.expiresAt) : "ended " + HTML.time(h.endedAt))</td></tr>"
        return r
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
            t += "<tr><td>\(HTML.time(e.time))</td><td>\(HTML.escape(e.kind.name.replacingOccurrences(of: "_", with: " ")))</td>"
            t += "<td class=\"num\">\(e.credits > 0 ? "+" : "")\(HTML.credits(e.credits))</td><td>\(HTML.escape(e.eventID))</td></tr>"
        }
        if view.history.isEmpty { t += "<tr><td colspan=\"4\" class=\"muted\">no allocations yet</td></tr>" }
        return t + "</tbody></table>\n"
    }

    /// This cycle's alerts in words (the alert ids are the alert topic's business, not a customer's).
    func alertsTable() -> String {
        var t = "<table id=\"alerts\"><thead><tr><th>time</th><th>alert</th><th class=\"num\">threshold</th></tr></thead><tbody>"
        for a in view.alerts {
            t += "<tr><td>\(HTML.time(a.time))</td><td>\(HTML.escape(Self.alertName(a.type)))</td>"
            t += "<td class=\"num\">\(a.thresholdPercent.map { "\($0) %" } ?? "—")</td></tr>"
        }
        if view.alerts.isEmpty { t += "<tr><td colspan=\"3\" class=\"muted\">no alerts this cycle</td></tr>" }
        return t + "</tbody></table>\n"
    }

    /// "credit.balance.low" → "balance low", "credit.member.exhausted" → "member exhausted".
    static func alertName(_ type: String) -> String {
        var name = Substring(type)
        if name.hasPrefix("credit.") { name = name.dropFirst(7) }
        return name.replacingOccurrences(of: ".", with: " ").replacingOccurrences(of: "_", with: " ")
    }
}
