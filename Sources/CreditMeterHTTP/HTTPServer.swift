import CreditConfig
public import CreditMeterService
import Foundation
import Hummingbird
public import Logging
public import ServiceLifecycle
import NIOCore

/// The HTTP server (contract §11) as a swift-service-lifecycle `Service`, run beside the
/// consuming loop in one `ServiceGroup`: it starts with the service and stops (gracefully,
/// finishing requests in flight) with it.
///
/// Whoever starts it waits for `binding` before starting anything of Kafka: a taken port then
/// ends the command with one line naming the address, before a client connects anywhere.
public struct HTTPServer: Service {
    public let host: String
    public let port: Int
    /// Resolved once: the port the server listens on, or the one-line reason it could not bind.
    public let binding: Binding
    let app: Application<API>

    /// - Parameters:
    ///   - listen: `host:port` (`http.listen`); port 0 picks a free one, reported through
    ///     `onListening` and `binding`.
    public init(listen: String, api: API, logger: Logger, onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) throws {
        let (host, port) = try Self.parse(listen)
        self.host = host
        self.port = port
        let binding = Binding()
        self.binding = binding
        app = Application(responder: api,
                          server: .http1(configuration: .init(additionalChannelHandlers: [ParseErrorAnswer()])),
                          configuration: .init(address: .hostname(host, port: port), serverName: nil),
                          onServerRunning: { channel in
                              let bound = channel.localAddress?.port ?? port
                              binding.resolve(.success(bound))
                              await onListening(bound)
                          },
                          logger: logger)
    }

    public func run() async throws {
        do {
            try await app.run()
        } catch {
            // Before it listened: the address could not be bound — one line an operator can act
            // on ("cannot listen on 127.0.0.1:8080: address already in use").
            let failure = ServiceError(binding.isResolved ? "http.listen \(Self.address(host, port)): \(error)"
                                                          : "cannot listen on \(Self.address(host, port)): \(Self.reason(error))")
            binding.resolve(.failure(failure))
            throw failure
        }
    }

    /// The server's bound port or its bind failure, awaited by whoever starts what depends on it.
    public final class Binding: Sendable {
        private struct State {
            var result: Result<Int, any Error>?
            var waiters: [Int: CheckedContinuation<Int, any Error>] = [:]
            var nextWaiter = 0
        }
        private let state = Locked(State())

        init() {}

        var isResolved: Bool { state.withLock { $0.result != nil } }

        /// The first resolution wins; later ones are ignored.
        func resolve(_ result: Result<Int, any Error>) {
            let waiters = state.withLock { s -> [CheckedContinuation<Int, any Error>] in
                guard s.result == nil else { return [] }
                s.result = result
                defer { s.waiters = [:] }
                return Array(s.waiters.values)
            }
            for w in waiters { w.resume(with: result) }
        }

        /// Waits until the server listens (its port) or could not bind (throws why); a waiter
        /// cancelled before then gets `CancellationError`.
        public func port() async throws -> Int {
            let id = state.withLock { s -> Int in s.nextWaiter += 1; return s.nextWaiter }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, any Error>) in
                    let ready = state.withLock { s -> Result<Int, any Error>? in
                        if let r = s.result { return r }
                        if Task.isCancelled { return .failure(CancellationError()) }
                        s.waiters[id] = c
                        return nil
                    }
                    if let ready { c.resume(with: ready) }
                }
            } onCancel: {
                state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
            }
        }
    }

    /// `host:port`, with brackets around an IPv6 host.
    static func address(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Why a bind failed, in the system's words ("address already in use").
    static func reason(_ error: any Error) -> String {
        if let io = error as? IOError {
            let text = String(cString: strerror(io.errnoCode))
            return text.prefix(1).lowercased() + text.dropFirst()
        }
        if let unknown = error as? SocketAddressError.UnknownHost { return "unknown host \(unknown.host) (\(unknown.errorDescription))" }
        return "\(error)"
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
                      ownership: service.ownership, holds: service.holds, now: service.wallClock)
        return try HTTPServer(listen: listen ?? service.config.http.listen, api: api, logger: logger, onListening: onListening)
    }
}
