import Crdkafka

/// Faults driven by text, one command per line — how a test in another process steers a
/// `credit-meter dev-broker --commands` cluster at runtime. Each command answers `ok` or
/// `error <reason>` (one line).
///
///     down <broker>                          broker stops accepting connections
///     up <broker>                            … and accepts them again
///     rtt <broker> <ms>                      round-trip time added to each response
///     errors <Api> <code,code,…> [<broker>]  the next requests of <Api> fail with these codes,
///                                            cluster-wide or only those reaching <broker>
///     clear <Api>                            drop the cluster-wide errors still pending
///     coordinator <group> <broker>           moves the group's coordinator
///     leader <topic> <partition> <broker>    moves a partition's leader
///
/// `<Api>` is the protocol name (`Produce`, `Fetch`, `OffsetCommit`, `JoinGroup`, …); a code is
/// a number or librdkafka's name for it (`NOT_LEADER_FOR_PARTITION`, `REQUEST_TIMED_OUT`).
extension MockCluster {
    public func perform(_ line: String) -> String {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first else { return "error empty command" }
        func int(_ i: Int, _ what: String) throws(CommandError) -> Int32 {
            guard i < words.count, let v = Int32(words[i]) else { throw CommandError("\(verb): \(what) must be an integer") }
            return v
        }
        func arity(_ n: ClosedRange<Int>, _ usage: String) throws(CommandError) {
            guard n.contains(words.count - 1) else { throw CommandError("usage: \(usage)") }
        }
        do {
            switch verb {
            case "down":
                try arity(1...1, "down <broker>")
                try setBrokerDown(try int(1, "broker"))
            case "up":
                try arity(1...1, "up <broker>")
                try setBrokerUp(try int(1, "broker"))
            case "rtt":
                try arity(2...2, "rtt <broker> <ms>")
                try setRoundTripTime(broker: try int(1, "broker"), milliseconds: try int(2, "ms"))
            case "errors":
                try arity(2...3, "errors <Api> <code,code,…> [<broker>]")
                guard let api = APIKey(name: words[1]) else { throw CommandError("errors: unknown API \(words[1])") }
                var codes: [Int32] = []
                for c in words[2].split(separator: ",") {
                    guard let code = Int32(c) ?? Self.errorCode(named: String(c)) else { throw CommandError("errors: unknown error code \(c)") }
                    codes.append(code)
                }
                if words.count == 4 {
                    try pushRequestErrors(api, codes, broker: try int(3, "broker"))
                } else {
                    pushRequestErrors(api, codes)
                }
            case "clear":
                try arity(1...1, "clear <Api>")
                guard let api = APIKey(name: words[1]) else { throw CommandError("clear: unknown API \(words[1])") }
                clearRequestErrors(api)
            case "coordinator":
                try arity(2...2, "coordinator <group> <broker>")
                try setCoordinator(group: words[1], broker: try int(2, "broker"))
            case "leader":
                try arity(3...3, "leader <topic> <partition> <broker>")
                try setPartitionLeader(topic: words[1], partition: try int(2, "partition"), broker: try int(3, "broker"))
            default:
                throw CommandError("unknown command \(verb)")
            }
            return "ok"
        } catch let error as CommandError {
            return "error \(error.reason)"
        } catch {
            return "error \(error)"
        }
    }

    /// A broker error code by librdkafka's name (`REQUEST_TIMED_OUT`; the `RD_KAFKA_RESP_ERR_`
    /// prefix may be given).
    public static func errorCode(named name: String) -> Int32? {
        let wanted = name.uppercased().replacing("RD_KAFKA_RESP_ERR_", with: "")
        for code in Int32(-200)...Int32(200) {
            if String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: code))) == wanted { return code }
        }
        return nil
    }
}

private struct CommandError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
