import CreditEngine
import Foundation

/// `GET /ui/`: the accounts this instance holds, as a table sorted on the server (any column,
/// both directions), filtered by status and by a search for part of the account id, 50 rows
/// a page. On a narrow screen the table keeps account, balance, runway and status.
struct OverviewPage {
    enum Column: String, CaseIterable {
        case account, balance, remaining, used, runway, status
    }

    enum Status: String, CaseIterable {
        case all, low, exhausted, idle
        /// Accounts with open (active) holds (§15).
        case holds

        func includes(_ s: AccountSummary) -> Bool {
            switch self {
            case .all: return true
            case .low: return s.isLow
            case .exhausted: return s.isExhausted
            case .idle: return s.isIdle
            case .holds: return s.activeHolds > 0
            }
        }
    }

    static let pageSize = 50

    let rows: [AccountSummary]
    let total: Int
    let status: Status
    let sort: Column
    let descending: Bool
    /// The page shown, from 0 (at most the last).
    let page: Int
    /// The page asked for, when it lay past the last.
    let askedPage: Int?
    /// The search text ("" for none).
    let search: String
    /// The token when it came in the query (a browser's way in): carried on the links.
    let token: String?

    var tokenQuery: String { token.map { "?token=" + HTML.urlEncode($0) } ?? "" }

    /// Whether `id` contains `needle` (already ASCII-lowercased), ignoring ASCII case: a
    /// search for "acct" finds "ACCT-7". Bytes compared in place, no copy per id.
    static func matches(_ id: String, _ needle: [UInt8]) -> Bool {
        if needle.isEmpty { return true }
        var id = id
        return id.withUTF8 { hay in
            guard hay.count >= needle.count else { return false }
            func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
            outer: for i in 0...(hay.count - needle.count) {
                for j in 0..<needle.count where lower(hay[i + j]) != needle[j] { continue outer }
                return true
            }
            return false
        }
    }

    /// The search text as `matches` wants it.
    static func needle(_ search: String) -> [UInt8] {
        search.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
    }

    /// Sorts and cuts one page out of `all` (every summary matching the filters); a page past
    /// the last shows the last.
    static func make(_ all: [AccountSummary], status: Status, sort: Column, descending: Bool, page: Int, search: String = "",
                     token: String?) -> OverviewPage {
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
        let pages = max(1, (sorted.count + pageSize - 1) / pageSize)
        let shown = min(page, pages - 1)
        let start = shown * pageSize
        return OverviewPage(rows: Array(sorted[start..<min(sorted.count, start + pageSize)]), total: sorted.count, status: status,
                            sort: sort, descending: descending, page: shown, askedPage: page == shown ? nil : page, search: search, token: token)
    }

    var pages: Int { max(1, (total + Self.pageSize - 1) / Self.pageSize) }

    func link(status: Status? = nil, sort: Column? = nil, descending: Bool? = nil, page: Int? = nil, search: String? = nil) -> String {
        let search = search ?? self.search
        var q = "status=\((status ?? self.status).rawValue)&sort=\((sort ?? self.sort).rawValue)&dir=\((descending ?? self.descending) ? "desc" : "asc")"
        q += "&page=\(page ?? 0)"
        if !search.isEmpty { q += "&q=" + HTML.urlEncode(search) }
        if !tokenQuery.isEmpty { q += "&" + tokenQuery.dropFirst() }
        return "/ui/?" + q
    }

    /// The search form: a GET to this page keeping the status filter, the order and the token.
    func searchForm() -> String {
        var f = "<form class=\"search\" method=\"get\" action=\"/ui/\" role=\"search\">"
        f += "<label for=\"q\">account id contains </label><input type=\"search\" id=\"q\" name=\"q\" value=\"\(HTML.escape(search))\" maxlength=\"128\"> "
        f += "<input type=\"hidden\" name=\"status\" value=\"\(status.rawValue)\"><input type=\"hidden\" name=\"sort\" value=\"\(sort.rawValue)\">"
        f += "<input type=\"hidden\" name=\"dir\" value=\"\(descending ? "desc" : "asc")\">"
        if let token { f += "<input type=\"hidden\" name=\"token\" value=\"\(HTML.escape(token))\">" }
        f += "<button type=\"submit\">search</button>"
        if !search.isEmpty { f += " <a href=\"\(HTML.escape(link(page: 0, search: "")))\">clear</a>" }
        return f + "</form>\n"
    }

    func render() -> String {
        var b = "<h1>Accounts</h1>\n" + searchForm() + "<p class=\"filters\">show: "
        for s in Status.allCases {
            b += s == status ? "<b>\(s.rawValue)</b> " : "<a href=\"\(HTML.escape(link(status: s, page: 0)))\">\(s.rawValue)</a> "
        }
        b += "<span class=\"muted\">· \(total) account\(total == 1 ? "" : "s")"
        if !search.isEmpty { b += " whose id contains “\(HTML.escape(search))”" }
        b += "</span></p>\n"
        b += "<table id=\"accounts\"><thead><tr>"
        let headers: [(Column, String, String?)] = [(.account, "account", nil), (.balance, "balance", "num"), (.remaining, "remaining", "wide"),
                                                    (.used, "used this cycle", "num wide"), (.runway, "runs out", nil), (.status, "status", nil)]
        for (column, title, cssClass) in headers {
            let next = column == sort ? !descending : (column == .balance || column == .used)
            let arrow = column == sort ? (descending ? " ▼" : " ▲") : ""
            b += "<th\(cssClass.map { " class=\"\($0)\"" } ?? "") aria-sort=\"\(column == sort ? (descending ? "descending" : "ascending") : "none")\">"
            b += "<a href=\"\(HTML.escape(link(sort: column, descending: next, page: 0)))\">\(title)\(arrow)</a></th>"
        }
        b += "</tr></thead><tbody>\n"
        for r in rows {
            let status = r.isExhausted ? "exhausted" : r.isLow ? "low" : r.isIdle ? "idle" : "ok"
            b += "<tr><td><a href=\"/ui/accounts/\(HTML.urlEncode(r.account))\(tokenQuery)\">\(HTML.escape(r.account))</a></td>"
            b += "<td class=\"num\">\(HTML.credits(r.balance))"
            if r.activeHolds > 0 {
                b += "<br><span class=\"muted\" title=\"balance less what \(r.activeHolds) open hold\(r.activeHolds == 1 ? "" : "s") reserve\">"
                b += "\(HTML.credits(r.available)) available</span>"
            }
            b += "</td><td class=\"wide\">"
            if let p = r.remainingPermille {
                let w = max(0, min(100, Double(p) / 10))
                b += "<span class=\"bar\"><span style=\"width:\(String(format: "%.1f", w))%\"></span></span>\(HTML.permille(p)) %"
            } else {
                b += "<span class=\"muted\">—</span>"
            }
            b += "</td><td class=\"num wide\">\(HTML.credits(r.usedThisCycle))</td>"
            b += "<td class=\"nowrap\">\(r.runwayExhaustedAt.map { HTML.dayString(HTML.day(ofSeconds: $0 / 1_000_000_000)) } ?? "—")</td>"
            b += "<td class=\"status-\(status)\">\(status)</td></tr>\n"
        }
        if rows.isEmpty { b += "<tr><td colspan=\"6\" class=\"muted\">no accounts\(search.isEmpty ? "" : " match this search")</td></tr>\n" }
        b += "</tbody></table>\n"
        if let asked = askedPage {
            b += "<p id=\"no-such-page\">There is no page \(asked + 1): \(pages == 1 ? "there is one page" : "there are \(pages) pages"); this is the last.</p>\n"
        }
        b += "<p id=\"pages\">"
        if page > 0 { b += "<a href=\"\(HTML.escape(link(page: page - 1)))\">← previous</a> " }
        b += "page \(page + 1) of \(pages)"
        if page + 1 < pages { b += " <a href=\"\(HTML.escape(link(page: page + 1)))\">next →</a>" }
        b += "</p>\n"
        return HTML.page(title: "Accounts (\(total)) — CreditMeter", body: b)
    }
}
