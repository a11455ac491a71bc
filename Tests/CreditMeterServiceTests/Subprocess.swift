import Foundation
import Testing

/// The built `credit-meter` binary, run as a child process.
final class Child: @unchecked Sendable {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    static var binary: String {
        let tests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [tests.appendingPathComponent("credit-meter").path,
                          tests.deletingLastPathComponent().appendingPathComponent("credit-meter").path,
                          ServiceHarness.repoRoot.appendingPathComponent(".build/debug/credit-meter").path] {
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return ServiceHarness.repoRoot.appendingPathComponent(".build/debug/credit-meter").path
    }

    init(_ arguments: [String], logDir: String, name: String, environment: [String: String] = [:]) throws {
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

    /// Waits for exit; returns the status (or nil on timeout).
    func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// The first line the child prints on stdout.
    func firstLine(timeout: Duration) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = stdout.split(separator: "\n").first { return String(line) }
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

    init(dir: String, topics: [String], brokers: Int = 1) async throws {
        child = try Child(["dev-broker", "--brokers", String(brokers)] + topics.flatMap { ["--topic", $0] }, logDir: dir, name: "dev-broker")
        guard let line = await child.firstLine(timeout: .seconds(10)) else {
            throw TestFailure("dev-broker did not start: \(child.stderr)")
        }
        bootstrap = line
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
