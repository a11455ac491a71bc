/// A snapshot is trusted only when its checksum holds *and* what it restores is a state the
/// ledger could have produced: amounts in range and conserved, blocks summing to their total.
/// The checksum catches corruption on disk; this catches a snapshot that is well-formed but
/// wrong (a writer bug, a hand-edited or crafted file), which would otherwise be trusted —
/// or trap on the first arithmetic that overflows. The snapshot fuzz target (scripts/fuzz.sh)
/// holds decode to this on hostile bytes.
extension SnapshotCodec {
    /// Largest magnitude of any stored amount: far above any real ledger (2^60 millicredits
    /// ≈ 10^15 credits) and small enough that sums of a few amounts cannot overflow Int64.
    static let amountLimit: Int64 = 1 << 60
    /// The calendar a restored state may use, 1690-01-01 up to 2210-01-01: event times are
    /// 1700–2200; cycle ends may run a little past them.
    static let firstYear: Int64 = 1690, endYear: Int64 = 2210
    static let maxDay = Int(EventTime.daysFromCivil(year: endYear, month: 1, day: 1))
    static let timeRange: ClosedRange<Int64> =
        EventTime.daysFromCivil(year: firstYear, month: 1, day: 1) * EventTime.nanosPerDay
        ... EventTime.daysFromCivil(year: endYear, month: 1, day: 1) * EventTime.nanosPerDay

    /// Bound of counts and sequence numbers (events, counters, request and runway `n`): far
    /// above any real log, far enough below Int64.max that `+= 1` cannot overflow.
    static let countLimit: Int64 = 1 << 62

    static func validateRestored(_ ledger: PartitionLedger) throws(SnapshotError) {
        let c = ledger.state.counters
        // (Credits charged is a partition-wide sum kept for metrics, wrapping: not bounded here.)
        guard [c.applied, c.priced, c.duplicates, c.rejected, c.alerts, c.requests,
               c.holdsGranted, c.holdsDenied, c.holdsReleased, c.holdsExpired, c.usageUnheld].allSatisfy({ $0 >= 0 && $0 < countLimit }) else {
            throw .damaged("partition counters out of range (corrupt snapshot)")
        }
        let members = ledger.state.members.count
        let thresholdCount = ledger.config.thresholds.count
        for i in 0..<ledger.accountCount {
            let a = ledger.state.accounts[i]
            let amounts = [a.monthly, a.allowance, a.allowanceUsed, a.blockCredits, a.overage, a.entitlement,
                           a.usedThisCycle, a.granted, a.charged, a.expired, a.voided, a.adjusted, a.creditsBought]
            guard amounts.allSatisfy({ $0 > -amountLimit && $0 < amountLimit }),
                  a.blocks.allSatisfy({ $0.remaining >= 0 && $0.remaining < amountLimit }),
                  a.usage.allSatisfy({ $0.amount > -amountLimit && $0.amount < amountLimit }) else {
                throw .damaged("account \(i): amounts out of range (corrupt snapshot)")
            }
            // References into the tables the snapshot carries.
            guard a.plan == Account.noPlan || a.plan == Account.customPlan || (a.plan >= 0 && Int(a.plan) < ledger.config.priceBook.plans.count) else {
                throw .damaged("account \(i): plan reference out of range (corrupt snapshot)")
            }
            for cell in a.usage {
                let tag = cell.key & (3 << 30), index = Int(cell.key & ~(3 << 30))
                let ok = ((tag == UsageCell.dayTag || tag == UsageCell.cycleDayTag) && index <= maxDay)
                    || (tag == UsageCell.capabilityTag && index < ledger.state.capabilities.count)
                    || (tag == UsageCell.memberTag && index < ledger.state.members.count)
                guard ok else { throw .damaged("account \(i): usage cell reference out of range (corrupt snapshot)") }
            }
            let thresholds = a.alertThresholds(default: ledger.config.thresholds)
            guard a.alerts.counts.isEmpty || a.alerts.counts.count == 2 * thresholds.count + 2 else {
                throw .damaged("account \(i): alert counters do not match the thresholds (corrupt snapshot)")
            }
            // Times: within the calendar the ledger computes in (or the "none" sentinels).
            let times = [a.anchor, a.cycleStart, a.cycleEnd]
            guard times.allSatisfy(timeRange.contains), a.clock == .min || timeRange.contains(a.clock),
                  a.pinUntil == .max || timeRange.contains(a.pinUntil),  // .max: no end (never .min)
                  a.blocks.allSatisfy({ $0.expiresAt == .max || timeRange.contains($0.expiresAt) }) else {
                throw .damaged("account \(i): time out of range (corrupt snapshot)")
            }
            // The first usage day comes from an applied event, so never after the clock's day
            // (a crafted snapshot with one after it divided by zero in the runway).
            guard a.firstUsageDay == .max || (a.clock != .min && a.firstUsageDay <= EventTime.day(of: a.clock)) else {
                throw .damaged("account \(i): first usage day after the account's clock (corrupt snapshot)")
            }
            // The billing cycle: its index is months from the anchor, so anchor + index (+ 1)
            // months lies in the calendar too (else the next rollover's date arithmetic traps).
            guard a.cycleIndex > -100_000 && a.cycleIndex < 100_000, Self.monthsStayInCalendar(a.anchor, a.cycleIndex) else {
                throw .damaged("account \(i): billing cycle index out of range (corrupt snapshot)")
            }
            // The cycle is where its anchor and index put it (the ledger only ever sets all
            // four from one `BillingCycle`), and the clock lies before its end: every event
            // that moves the clock first starts each cycle that began by then.
            if a.hasPlan {
                let cycle = BillingCycle.at(index: a.cycleIndex, anchor: a.anchor)
                guard a.cycleStart == cycle.start, a.cycleEnd == cycle.end else {
                    throw .damaged("account \(i): billing cycle does not match its anchor and index (corrupt snapshot)")
                }
                guard a.clock < a.cycleEnd else {
                    throw .damaged("account \(i): clock at or after the end of its billing cycle (corrupt snapshot)")
                }
            }
            guard a.events >= 0 && a.events < countLimit else {
                throw .damaged("account \(i): event count out of range (corrupt snapshot)")
            }
            // Fired cycle alerts name a member of the table, or none (-1).
            guard a.cycleAlerts.allSatisfy({ $0.member >= -1 && $0.member < members }) else {
                throw .damaged("account \(i): alert member reference out of range (corrupt snapshot)")
            }
            if let x = a.extras.first {
                // As the event decoder and the price book admit them: rollover cap ≥ 0, budgets
                // > 0, a policy's credits > 0 (a pack's may be large), below ≥ 0, 1…1,000,000
                // requests per cycle; counts and `n` ≥ 0.
                guard x.rolloverMax >= 0,
                      [x.requestsInCycle, x.requestSequence, x.runwaySequence].allSatisfy({ $0 >= 0 && $0 < countLimit }) else {
                    throw .damaged("account \(i): top-up or runway state out of range (corrupt snapshot)")
                }
                // Remembered grant ids are searched by bisection (`AccountExtras.grantPosition`):
                // kept strictly ascending, each once.
                guard zip(x.grantIDs, x.grantIDs.dropFirst()).allSatisfy({ $0 < $1 }) else {
                    throw .damaged("account \(i): remembered grant ids out of order (corrupt snapshot)")
                }
                if let p = x.autoTopup {
                    guard p.credits > 0, p.below >= 0 && p.below < amountLimit,
                          p.maxPerCycle >= 1 && p.maxPerCycle <= 1_000_000 else {
                        throw .damaged("account \(i): auto top-up policy out of range (corrupt snapshot)")
                    }
                }
                var seen = Set<Int32>()
                for b in x.budgets {
                    guard b.member >= 0 && b.member < members, seen.insert(b.member).inserted,
                          b.budget > 0 && b.budget < amountLimit,
                          b.counts.isEmpty || b.counts.count == thresholdCount + 1 else {
                        throw .damaged("account \(i): member budget out of range (corrupt snapshot)")
                    }
                }
                // A removed budget's counts: a member of the table with no budget now, once.
                for m in x.removedBudgetCounts {
                    guard m.member >= 0 && m.member < members, seen.insert(m.member).inserted, m.counts.count == thresholdCount + 1 else {
                        throw .damaged("account \(i): removed member budget counts out of range (corrupt snapshot)")
                    }
                }
                // The account's own thresholds (§16), as the decoder admits them and kept sorted
                // high → low: 1–5 distinct whole percents from 1 to 99 (or none). Its fired marks
                // and open episode name them (restore does not remap an account's own list).
                let own = x.alertThresholds
                guard own.count <= ThresholdList.capacity, own.allSatisfy({ $0 >= 1 && $0 <= 99 }),
                      zip(own, own.dropFirst()).allSatisfy({ $0 > $1 }) else {
                    throw .damaged("account \(i): alert thresholds out of range (corrupt snapshot)")
                }
                if !own.isEmpty {
                    let episode = a.alerts.episodeLowest
                    guard a.alerts.fired & ~AlertState.exhaustedBit < 1 << own.count,
                          episode == AlertState.noEpisode || episode == 0 || own.contains(Int64(episode)) else {
                        throw .damaged("account \(i): alert marks do not match the account's thresholds (corrupt snapshot)")
                    }
                }
                // A retired threshold's counts: a whole percent not in force now, once.
                var retired = Set<Int64>()
                for r in x.retiredAlertCounts {
                    guard r.percent >= 1 && r.percent <= 100, !thresholds.contains(r.percent), retired.insert(r.percent).inserted else {
                        throw .damaged("account \(i): retired alert counts out of range (corrupt snapshot)")
                    }
                }
            }
            // Every id `n` the account holds lies in 0…highestSequence < countLimit (§14).
            guard a.highestSequence >= 0 && a.highestSequence < countLimit,
                  a.allSequences({ $0 >= 0 && $0 <= a.highestSequence }) else {
                throw .damaged("account \(i): id numbers out of range (corrupt snapshot)")
            }
            guard a.monthly >= 0, a.allowance >= 0, a.overage >= 0 else {
                throw .damaged("account \(i): negative monthly credits, allowance or overage (corrupt snapshot)")
            }
            var sum: Int64 = 0
            for b in a.blocks { sum += b.remaining }  // cannot overflow: decode summed them with overflow checks
            guard sum == a.blockCredits else { throw .damaged("account \(i): blocks do not sum to their total (corrupt snapshot)") }
            guard a.overage == 0 || (a.allowance == 0 && a.blockCredits == 0) else {
                throw .damaged("account \(i): overage beside unspent credits (corrupt snapshot)")
            }
            guard a.isConserved else {  // the amounts are in range, so this cannot overflow
                throw .damaged("account \(i): fails the conservation check (corrupt snapshot)")
            }
        }
    }

    /// An account's holds (§15) as the ledger leaves them after an event, checked before
    /// `HoldBook(restoring:nextNumber:)` sums them: numbers ascending from 1 and below the next
    /// number; each id once and never empty (nor a member or workflow label); a denial exactly
    /// on a denied hold, never `unknown_account` (a request without account state is not
    /// remembered); credits ≥ 0 — a hold that was granted held at most the balance, and its
    /// settled credits were charged, so both stay below `amountLimit`, as do the active holds'
    /// sums; a denied hold is never settled; times in the calendar; no active hold at or past
    /// its `expires_at` on the account clock (the pass before every event expires it); at most
    /// 1,000 active and 10,000 ended holds.
    static func validateHolds(_ holds: [Hold], nextNumber: Int64, clock: Int64, account i: Int) throws(SnapshotError) {
        func refused(_ what: String) -> SnapshotError { .damaged("account \(i): \(what) (corrupt snapshot)") }
        guard nextNumber >= 1 && nextNumber < countLimit else { throw refused("hold numbers out of order") }
        var previous: Int64 = 0
        var active = 0
        var activeHeld: Int64 = 0
        var ids = Set<String>()
        ids.reserveCapacity(holds.count)
        for h in holds {
            guard h.number > previous && h.number < nextNumber else { throw refused("hold numbers out of order") }
            previous = h.number
            guard !h.id.isEmpty, h.member?.isEmpty != true, h.workflow?.isEmpty != true else { throw refused("empty hold id or label") }
            guard ids.insert(h.id).inserted else { throw refused("repeated hold id") }
            guard (h.status == .denied) == (h.denial != nil), h.denial != .unknownAccount else {
                throw refused("hold status and denial do not match")
            }
            guard h.held >= 0, h.status == .denied || h.held < amountLimit, h.settled >= 0 && h.settled < amountLimit,
                  h.status != .denied || h.settled == 0 else {
                throw refused("hold credits out of range")
            }
            guard timeRange.contains(h.requestedAt), timeRange.contains(h.expiresAt), h.isActive || timeRange.contains(h.endedAt) else {
                throw refused("hold time out of range")
            }
            guard h.isActive else { continue }
            guard h.expiresAt > clock else { throw refused("active hold at or past its expiry") }
            active += 1
            activeHeld += h.held  // both below amountLimit: no overflow
            guard activeHeld < amountLimit else { throw refused("hold credits out of range") }
        }
        guard active <= HoldBook.maxActive else { throw refused("more than \(HoldBook.maxActive) active holds") }
        guard holds.count - active <= HoldBook.maxEnded else { throw refused("more than \(HoldBook.maxEnded) ended holds") }
    }

    /// Whether `anchor` (in `timeRange`) moved by `months` and by `months + 1` stays within the
    /// calendar the ledger computes in — decided on year and month numbers alone, which
    /// cannot overflow for |months| < 100,000.
    static func monthsStayInCalendar(_ anchor: Int64, _ months: Int64) -> Bool {
        let (y, m, _) = EventTime.civilFromDays(EventTime.day(of: anchor))
        let first = y * 12 + (m - 1) + months
        return first >= firstYear * 12 && first + 1 < endYear * 12
    }
}
