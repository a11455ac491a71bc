import ArgumentParser
import CreditConfig
import CreditMeterService
import CreditMeterTools

/// A probe for container health checks: the image has no curl, and this follows `http.listen`
/// (file or `CREDIT_METER_HTTP_LISTEN`) without a second place to keep the port.
struct Health: CreditMeterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the service running on this host whether it is ready (GET /readyz on http.listen's port); exit 0 if so.",
        discussion: """
            Asks 127.0.0.1 at http.listen's port (so http.listen must include \
            loopback: 0.0.0.0 or 127.0.0.1). Prints the answer and exits 0 on 200; \
            otherwise one line on stderr and exit 1. With --live it asks /healthz \
            (the consuming loop runs) instead of /readyz (restored, caught up).

            Examples:
              # in a container: HEALTHCHECK CMD ["credit-meter", "health"]
              credit-meter health
              credit-meter health --config /etc/credit-meter/credit-meter.yaml --live
            """)
    @Option(name: .long, help: "Configuration file (YAML) whose http.listen to use; default: the shipped configs/, built into the binary.")
    var config: String?
    @Flag(name: .long, help: "Ask /healthz (liveness) instead of /readyz (readiness).") var live = false

    func execute() async throws {
        let cfg = try loadConfig(config)
        let listen = cfg.http.listen
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (1...65_535).contains(port) else {
            throw ServiceError("http.listen \(listen): no fixed port to ask")
        }
        let path = live ? "/healthz" : "/readyz"
        let url = "http://127.0.0.1:\(port)\(path)"
        let answer: LoopbackHTTPClient.Response
        do {
            answer = try await LoopbackHTTPClient(port: port).request(path)
        } catch {
            throw ServiceError("nothing answers at \(url) (\(error))")
        }
        guard answer.status == 200 else { throw ServiceError("\(url) answered \(answer.status): \(answer.text)") }
        print(answer.text)
    }
}
