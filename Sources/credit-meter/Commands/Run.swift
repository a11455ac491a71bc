import ArgumentParser
import CreditConfig
import CreditMeterHTTP
import CreditMeterService
import CreditMeterTools
import Logging
import ServiceLifecycle
import UnixSignals

struct Run: CreditMeterCommand {
    static let configuration = CommandConfiguration(abstract: "Run the service until SIGTERM/SIGINT.")
    @Option(name: .long, help: "Configuration file (YAML).") var config: String
    @OptionGroup var common: Common

    func execute() async throws {
        let logger = common.logger("credit-meter", default: .info)
        _ = MetricsBootstrap.registry()  // before any instrument is created: swift-metrics → Prometheus
        let cfg = try loadConfig(config)
        // `bootstrap_servers: embedded`: a development cluster in this process.
        var embedded: DevCluster?
        if cfg.kafka.isEmbedded {
            let cluster = try DevCluster(for: cfg.kafka, inputPartitions: 16, outputPartitions: 4, logger: logger)
            logger.notice("embedded mock cluster started", metadata: ["bootstrap": "\(cluster.bootstrapServers)"])
            embedded = cluster
        }
        let service = MeterService(config: cfg, logger: logger, bootstrap: embedded?.bootstrapServers)
        let http = try HTTPServer.forService(service, logger: logger) { port in
            logger.notice("HTTP listening", metadata: ["listen": "\(cfg.http.listen)", "port": "\(port)"])
        }
        // Shut down in reverse order: the loop drains (snapshots, commits) while HTTP still answers.
        // When the loop stops — cleanly or with an error — HTTP shuts down gracefully (requests in
        // flight finish, nothing is logged as a shutdown error), and the loop's error is the
        // one line the command prints.
        let loop = ServiceGroupConfiguration.ServiceConfiguration(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                                                                  failureTerminationBehavior: .gracefullyShutdownGroup)
        let group = ServiceGroup(configuration: .init(services: [.init(service: http), loop],
                                                      gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
        withExtendedLifetime(embedded) {}
    }
}
