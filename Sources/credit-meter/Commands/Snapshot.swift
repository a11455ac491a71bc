import ArgumentParser
import CreditEngine
import CreditMeterService
import CreditMeterTools

struct Snapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with snapshots.",
        discussion: """
            Example:
              credit-meter snapshot inspect var/snapshots --account acct-00042
            """,
        subcommands: [Inspect.self])

    struct Inspect: CreditMeterCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a snapshot (file or folder) holds.",
            discussion: """
                Examples:
                  credit-meter snapshot inspect var/snapshots
                  credit-meter snapshot inspect var/snapshots --account acct-00042 --json
                  credit-meter snapshot inspect \\
                    var/snapshots/ai.usage/3/00000000000000051234.snap
                """)
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
