import ArgumentParser
import CreditEngine
import CreditMeterService
import CreditMeterTools

struct Snapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Work with snapshots.", subcommands: [Inspect.self])

    struct Inspect: CreditMeterCommand {
        static let configuration = CommandConfiguration(abstract: "Show what a snapshot (file or folder) holds.")
        @Argument(help: "A snapshot file, or the snapshots folder (its newest valid state).") var path: String
        @Option(name: .long, help: "Only this account.") var account: String?
        @Flag(name: .long, help: "JSON: {\"offsets\": {…}, \"accounts\": […]}.") var json = false

        func execute() async throws {
            let loaded = try SnapshotInspector.load(path)
            if let account, !loaded.contains(where: { $0.ledger.accountIndex(account) != nil }) {
                throw ServiceError("account \(account) is not in \(path)")
            }
            print(json ? SnapshotInspector.json(loaded, account: account) : SnapshotInspector.text(loaded, account: account))
        }
    }
}
