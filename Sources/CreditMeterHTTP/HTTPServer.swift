import CreditConfig
public import CreditMeterService
import Hummingbird
public import Logging
public import ServiceLifecycle
import NIOCore

/// The HTTP server (contract §11) as a swift-service-lifecycle `Service`, run beside the
/// consuming loop in one `ServiceGroup`: it starts with the service and stops (gracefully,
/// finishing requests in flight) with it.
public struct HTTPServer: Service {
    public let host: String
    public let port: Int
    let app: Application<API>

    /// - Parameters:
    ///   - listen: `host:port` (`http.listen`); port 0 picks a free one, reported through
    ///     `onListening`.
    public init(listen: String, api: API, logger: Logger, onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) throws {
        let (host, port) = try Self.parse(listen)
        self.host = host
        self.port = port
        app = Application(responder: api,
                          server: .http1(configuration: .init(additionalChannelHandlers: [ParseErrorAnswer()])),
                          configuration: .init(address: .hostname(host, port: port), serverName: nil),
                          onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
                          logger: logger)
    }

    public func run() async throws {
        do {
            try await app.run()
        } catch {
            // One line an operator can act on ("http.listen 127.0.0.1:8080: … Address already in use").
            throw ServiceError("http.listen \(host):\(port): \(error)")
        }
    }

    /// `host:port`, `[v6]:port` or `:port`.
    static func parse(_ listen: String) throws -> (String, Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65_535).contains(port) else {
            throw ServiceError("http.listen: \"\(listen)\" is not host:port")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}

extension HTTPServer {
    /// The server for a running service: its read model, its configuration (`http.*`,
    /// `access.mode`), the process's Prometheus registry.
    /// - Parameter listen: overrides `http.listen` (tests pass "127.0.0.1:0").
    public static func forService(_ service: MeterService, settings: APISettings? = nil, listen: String? = nil, logger: Logger,
                                  onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) throws -> HTTPServer {
        let exporter = MetricsExporter(registry: MetricsBootstrap.registry(), model: service.readModel, status: { service.status },
                                       now: service.wallClock)
        let api = API(model: service.readModel, settings: settings ?? APISettings(config: service.config), exporter: exporter,
                      ownership: service.ownership, now: service.wallClock)
        return try HTTPServer(listen: listen ?? service.config.http.listen, api: api, logger: logger, onListening: onListening)
    }
}
