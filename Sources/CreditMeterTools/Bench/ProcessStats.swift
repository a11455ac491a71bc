import CreditMeterService
import Foundation

/// Resident memory and CPU time, from /proc and getrusage.
enum ProcessStats {
    /// Resident set size of this process, in bytes.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// User + system CPU seconds of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return seconds(usage)
    }

    /// User + system CPU seconds of another process so far (`/proc/<pid>/stat`; 0 if unreadable).
    static func cpuSeconds(pid: pid_t) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        // Fields after the command name: state is field 3, utime 14 and stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds of one thread (the calling one).
    static func threadCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD
        return seconds(usage)
    }

    static func seconds(_ u: rusage) -> Double {
        Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }
}

/// A child process started with posix_spawn, so that its CPU time can be read with wait4.
final class MeasuredChild: @unchecked Sendable {
    let pid: pid_t
    private(set) var usage = rusage()
    private(set) var status: Int32 = -1
    let output: String

    init(_ executable: String, _ arguments: [String], output: String) throws {
        self.output = output
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, output + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw ServiceError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Waits for exit; fills `usage` with the child's CPU time.
    func wait() {
        var s: Int32 = 0
        var u = rusage()
        if status != -1 { return }  // already reaped by `exited()`
        while wait4(pid, &s, 0, &u) < 0 && errno == EINTR {}
        usage = u
        status = s
    }

    /// Reaps the child if it has exited (then `usage` and `status` are final); never blocks.
    func exited() -> Bool {
        if status != -1 { return true }
        var s: Int32 = 0
        var u = rusage()
        guard wait4(pid, &s, WNOHANG, &u) == pid else { return false }
        usage = u
        status = s
        return true
    }

    /// Asks the child to stop (SIGTERM) and waits for its exit.
    func terminate() {
        kill(pid, SIGTERM)
        wait()
    }

    var cpuSeconds: Double { ProcessStats.seconds(usage) }
    var exitedCleanly: Bool { (status & 0x7f) == 0 && ((status >> 8) & 0xff) == 0 }
}

/// Finds an executable on PATH.
func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}
