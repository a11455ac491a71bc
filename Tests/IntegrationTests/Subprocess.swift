import Foundation
import Testing

/// The built `credit-meter` binary, run as a child process.
final class Child: @unchecked Sendable {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String
    /// The child's stdin, when it was started with `stdin: true`.
    let input: Pipe?

    static var binary: String {
        let tests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [tests.appendingPathComponent("credit-meter").path,
                          tests.deletingLastPathComponent().appendingPathComponent("credit-meter").path,
                          ServiceHarness.repoRoot.appendingPathComponent(".build/debug/credit-meter").path] {
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return ServiceHarness.repoRoot.appendingPathComponent(".build/debug/credit-meter").path
    }

    init(_ arguments: [String], logDir: String, name: String, environment: [String: String] = [:], stdin: Bool = false) throws {
        input = stdin ? Pipe() : nil
        if let input { process.standardInput = input }
        stdoutPath = "\(logDir)/\(name).out"
        stderrPath = "\(logDir)/\(name).err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Writes one line to the child's stdin.
    func send(_ line: String) throws {
        guard let input else { throw TestFailure("\(process.arguments ?? []) was started without a stdin pipe") }
        try input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// The HTTP port `credit-meter run` logged ("HTTP listening … port=N"), once it has.
    var httpPort: Int? {
        guard let line = stderr.split(separator: "\n").first(where: { $0.contains("HTTP listening") }),
              let match = line.firstMatch(of: /port=(\d+)/) else { return nil }
        return Int(match.1)
    }

    /// Waits for exit; returns the status (or nil on timeout).
    func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// The first line the child prints on stdout (nil on timeout, or once it has exited
    /// without one when `whileRunning`).
    func firstLine(timeout: Duration, whileRunning: Bool = false) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = stdout.split(separator: "\n").first { return String(line) }
            if whileRunning && !process.isRunning { return stdout.split(separator: "\n").first.map(String.init) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// A mock cluster in a separate process (`credit-meter dev-broker`).
final class DevBroker: @unchecked Sendable {
    let child: Child
    let bootstrap: String

    private var answered = 0

    /// - Parameter commands: start it with `--commands`, so that `command(_:)` can inject faults.
    init(dir: String, topics: [String], brokers: Int = 1, commands: Bool = false) async throws {
        let arguments = ["dev-broker", "--brokers", String(brokers)] + topics.flatMap { ["--topic", $0] } + (commands ? ["--commands"] : [])
        // The test infrastructure, not the service under test: a broker process that dies
        // before announcing itself is started once more (and says so); a slow start on a
        // loaded machine gets a minute. A second failure fails the test with what is known.
        var attempt = 1
        while true {
            let child = try Child(arguments, logDir: dir, name: "dev-broker-\(attempt)", environment: ["CREDIT_METER_LOG_LEVEL": "info"], stdin: commands)
            let started = ContinuousClock.now
            if let line = await child.firstLine(timeout: .seconds(60), whileRunning: true) {
                self.child = child
                bootstrap = line
                return
            }
            let waited = ContinuousClock.now - started
            let how = child.process.isRunning ? "still running after \(waited)" : "exited (\(child.process.terminationReason == .uncaughtSignal ? "signal" : "status") \(child.process.terminationStatus)) after \(waited)"
            if attempt == 2 || child.process.isRunning {
                child.signal(SIGKILL)
                throw TestFailure("dev-broker did not start: \(how); stderr: \(child.stderr.suffix(2000))")
            }
            print("dev-broker \(how) without announcing itself; starting it once more. stderr: \(child.stderr.suffix(500))")
            attempt += 1
        }
    }

    /// Sends one fault command (`down 2`, `errors Produce 7,7 3`, …) and waits for its answer;
    /// anything but `ok` fails.
    func command(_ line: String) async throws {
        try child.send(line)
        answered += 1
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let late = ContinuousClock.now >= deadline  // one more look after a late wake-up
            let lines = child.stdout.split(separator: "\n")
            if lines.count > answered {
                let answer = String(lines[answered])
                guard answer == "ok" else { throw TestFailure("dev-broker: \(line) → \(answer)") }
                return
            }
            if late { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("dev-broker did not answer \(line); stderr: \(child.stderr.suffix(1000))")
    }

    func stop() async {
        child.signal(SIGTERM)
        _ = await child.wait(timeout: .seconds(10))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
