import ArgumentParser
import CreditConfig
import CreditMeterHTTP
import CreditMeterService
import CreditMeterTools
import Logging
import ServiceLifecycle
import UnixSignals

struct Run: CreditMeterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the service until SIGTERM/SIGINT.",
        discussion: """
            Binds the HTTP server (http.listen) first, then joins the consumer group.

            Examples:
              credit-meter run --config configs/credit-meter.yaml
              CREDIT_METER_KAFKA_BOOTSTRAP_SERVERS=kafka-1:9092 \\
                CREDIT_METER_HTTP_LISTEN=0.0.0.0:8080 \\
                credit-meter run --config /etc/credit-meter/credit-meter.yaml
            """)
    @Option(name: .long, help: "Configuration file (YAML).") var config: String
    @OptionGroup var common: Common

    func execute() async throws {
        let logger = common.logger("credit-meter", default: .info)
        _ = MetricsBootstrap.registry()  // before any instrument is created: swift-metrics → Prometheus
        let cfg = try loadConfig(config)
        // `bootstrap_servers: embedded`: a development cluster in this process.
        let embedded = cfg.kafka.isEmbedded ? try DevCluster(for: cfg.kafka, inputPartitions: 16, outputPartitions: 4, logger: logger) : nil
        let service = MeterService(config: cfg, logger: logger, bootstrap: embedded?.bootstrapServers)
        let http = try HTTPServer.forService(service, logger: logger) { port in
            logger.notice("HTTP listening", metadata: ["listen": "\(cfg.http.listen)", "port": "\(port)"])
            if let embedded { logger.notice("embedded mock cluster started", metadata: ["bootstrap": "\(embedded.bootstrapServers)"]) }
        }
        // The consuming loop starts once HTTP listens: a taken port ends the command with that
        // one line before anything of Kafka starts. Shut down in reverse order: the loop drains
        // (snapshots, commits) while HTTP still answers. When the loop stops — cleanly or with an
        // error — HTTP shuts down gracefully (requests in flight finish, nothing is logged as a
        // shutdown error), and the loop's error is the one line the command prints.
        let loop = ServiceGroupConfiguration.ServiceConfiguration(service: AfterListening(http: http.binding, service: service),
                                                                  successTerminationBehavior: .gracefullyShutdownGroup,
                                                                  failureTerminationBehavior: .gracefullyShutdownGroup)
        let group = ServiceGroup(configuration: .init(services: [.init(service: http), loop],
                                                      gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
        withExtendedLifetime(embedded) {}
    }
}

/// A service started only once the HTTP server listens; when HTTP cannot bind, or a stop comes
/// first, it never starts (the group ends with HTTP's error, or cleanly).
struct AfterListening: Service {
    let http: HTTPServer.Binding
    let service: any Service

    func run() async throws {
        do {
            _ = try await cancelWhenGracefulShutdown { try await http.port() }
        } catch {
            return
        }
        try await service.run()
    }
}
