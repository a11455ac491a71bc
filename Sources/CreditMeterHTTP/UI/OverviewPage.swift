import CreditEngine
import Foundation

/// `GET /ui/`: the accounts this instance holds, as a table sorted on the server (any column,
/// both directions), filtered by status, 50 rows a page.
struct OverviewPage {
    enum Column: String, CaseIterable {
        case account, balance, remaining, used, runway, status
    }

    enum Status: String, CaseIterable {
        case all, low, exhausted, idle

        func includes(_ s: AccountSummary) -> Bool {
            switch self {
            case .all: return true
            case .low: return s.isLow
            case .exhausted: return s.isExhausted
            case .idle: return s.isIdle
            }
        }
    }

    static let pageSize = 50

    let rows: [AccountSummary]
    let total: Int
    let status: Status
    let sort: Column
    let descending: Bool
    let page: Int
    let tokenQuery: String

    /// Sorts and cuts one page out of `all` (every summary matching the filter).
    static func make(_ all: [AccountSummary], status: Status, sort: Column, descending: Bool, page: Int, tokenQuery: String) -> OverviewPage {
        func key(_ s: AccountSummary) -> Int64 {
            switch sort {
            case .account: return 0
            case .balance: return s.balance
            case .remaining: return s.remainingPermille ?? .min
            case .used: return s.usedThisCycle
            case .runway: return s.runwayExhaustedAt ?? .max
            case .status: return s.isExhausted ? 0 : s.isLow ? 1 : s.isIdle ? 3 : 2
            }
        }
        // Ties (and the account column) fall back to the id's UTF-8 bytes, so pages are stable.
        let sorted = all.sorted { a, b in
            let ka = key(a), kb = key(b)
            if ka != kb { return descending ? ka > kb : ka < kb }
            let byID = a.account.utf8.lexicographicallyPrecedes(b.account.utf8)
            return sort == .account && descending ? !byID && a.account != b.account : byID
        }
        let start = min(page * pageSize, sorted.count)
        return OverviewPage(rows: Array(sorted[start..<min(sorted.count, start + pageSize)]), total: sorted.count, status: status,
                            sort: sort, descending: descending, page: page, tokenQuery: tokenQuery)
    }

    func link(status: Status? = nil, sort: Column? = nil, descending: Bool? = nil, page: Int? = nil) -> String {
        var q = "status=\((status ?? self.status).rawValue)&sort=\((sort ?? self.sort).rawValue)&dir=\((descending ?? self.descending) ? "desc" : "asc")"
        q += "&page=\(page ?? 0)"
        if !tokenQuery.isEmpty { q += "&" + tokenQuery.dropFirst() }
        return "/ui/?" + q
    }

    func render() -> String {
        var b = "<h1>Accounts</h1>\n<p class=\"filters\">show: "
        for s in Status.allCases {
            b += s == status ? "<b>\(s.rawValue)</b> " : "<a href=\"\(HTML.escape(link(status: s, page: 0)))\">\(s.rawValue)</a> "
        }
        b += "<span class=\"muted\">· \(total) account\(total == 1 ? "" : "s")</span></p>\n"
        b += "<table id=\"accounts\"><thead><tr>"
        let headers: [(Column, String, Bool)] = [(.account, "account", false), (.balance, "balance", true), (.remaining, "remaining", false),
                                                 (.used, "used this cycle", true), (.runway, "runs out", false), (.status, "status", false)]
        for (column, title, numeric) in headers {
            let next = column == sort ? !descending : (column == .balance || column == .used)
            let arrow = column == sort ? (descending ? " ▼" : " ▲") : ""
            b += "<th\(numeric ? " class=\"num\"" : "") aria-sort=\"\(column == sort ? (descending ? "descending" : "ascending") : "none")\">"
            b += "<a href=\"\(HTML.escape(link(sort: column, descending: next, page: 0)))\">\(title)\(arrow)</a></th>"
        }
        b += "</tr></thead><tbody>\n"
        for r in rows {
            let status = r.isExhausted ? "exhausted" : r.isLow ? "low" : r.isIdle ? "idle" : "ok"
            b += "<tr><td><a href=\"/ui/accounts/\(HTML.urlEncode(r.account))\(tokenQuery)\">\(HTML.escape(r.account))</a></td>"
            b += "<td class=\"num\">\(HTML.credits(r.balance))</td><td>"
            if let p = r.remainingPermille {
                let w = max(0, min(100, Double(p) / 10))
                b += "<span class=\"bar\"><span style=\"width:\(String(format: "%.1f", w))%\"></span></span>\(HTML.permille(p)) %"
            } else {
                b += "<span class=\"muted\">—</span>"
            }
            b += "</td><td class=\"num\">\(HTML.credits(r.usedThisCycle))</td>"
            b += "<td>\(r.runwayExhaustedAt.map { HTML.dayString(HTML.day(ofSeconds: $0 / 1_000_000_000)) } ?? "—")</td>"
            b += "<td class=\"status-\(status)\">\(status)</td></tr>\n"
        }
        if rows.isEmpty { b += "<tr><td colspan=\"6\" class=\"muted\">no accounts</td></tr>\n" }
        b += "</tbody></table>\n<p>"
        let pages = max(1, (total + Self.pageSize - 1) / Self.pageSize)
        if page > 0 { b += "<a href=\"\(HTML.escape(link(page: page - 1)))\">← previous</a> " }
        b += "page \(page + 1) of \(pages)"
        if page + 1 < pages { b += " <a href=\"\(HTML.escape(link(page: page + 1)))\">next →</a>" }
        b += "</p>\n"
        return HTML.page(title: "Accounts (\(total)) — CreditMeter", body: b)
    }
}
