#if canImport(Glibc)
import Glibc
#endif

/// Prometheus' standard process metrics (the names every Prometheus client library exports):
/// CPU time, memory, file descriptors and start time, read from /proc at each scrape. Where
/// /proc is missing (not Linux) nothing is written.
struct ProcessMetrics: Sendable {
    /// Seconds since 1970 when the process started (read once).
    let startTimeSeconds: Double?

    init() {
        startTimeSeconds = Self.startTime()
    }

    /// The families, with HELP and TYPE lines, in the text exposition format.
    func render(into text: inout String) {
        #if canImport(Glibc)
        if let stat = Self.stat() {
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            MetricsText.family(&text, "process_cpu_seconds_total", .counter, "Total user and system CPU time spent in seconds.")
            text += "process_cpu_seconds_total \(Double(stat.utime + stat.stime) / ticks)\n"
            MetricsText.family(&text, "process_resident_memory_bytes", .gauge, "Resident memory size in bytes.")
            text += "process_resident_memory_bytes \(stat.rssPages * Int64(sysconf(Int32(_SC_PAGESIZE))))\n"
            MetricsText.family(&text, "process_virtual_memory_bytes", .gauge, "Virtual memory size in bytes.")
            text += "process_virtual_memory_bytes \(stat.vsize)\n"
        }
        if let open = Self.openDescriptors() {
            MetricsText.family(&text, "process_open_fds", .gauge, "Number of open file descriptors.")
            text += "process_open_fds \(open)\n"
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            MetricsText.family(&text, "process_max_fds", .gauge, "Maximum number of open file descriptors.")
            text += "process_max_fds \(Double(limit.rlim_cur))\n"
        }
        if let startTimeSeconds {
            MetricsText.family(&text, "process_start_time_seconds", .gauge, "Start time of the process since unix epoch in seconds.")
            text += "process_start_time_seconds \(startTimeSeconds)\n"
        }
        #endif
    }

    /// The fields of /proc/self/stat used here (proc(5)).
    struct Stat {
        var utime: Int64, stime: Int64, startTicks: Int64, vsize: Int64, rssPages: Int64
    }

    static func stat() -> Stat? {
        guard let bytes = read("/proc/self/stat"), let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // After "pid (comm)": field 3 (state) first, so field n is at n − 3.
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " ")).map { Int64(String(decoding: $0, as: UTF8.self)) }
        guard fields.count > 21, let utime = fields[11], let stime = fields[12], let start = fields[19],
              let vsize = fields[20], let rss = fields[21] else { return nil }
        return Stat(utime: utime, stime: stime, startTicks: start, vsize: vsize, rssPages: rss)
    }

    /// Boot time (/proc/stat `btime`) + the process's start in clock ticks after boot.
    static func startTime() -> Double? {
        #if canImport(Glibc)
        guard let stat = stat(), let text = read("/proc/stat") else { return nil }
        for line in text.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("btime ".utf8)) {
            guard let boot = Int64(String(decoding: line.dropFirst(6), as: UTF8.self)) else { return nil }
            return Double(boot) + Double(stat.startTicks) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        #endif
        return nil
    }

    /// Entries of /proc/self/fd (the descriptor reading it included, as other clients count).
    static func openDescriptors() -> Int? {
        #if canImport(Glibc)
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in name[0] == UInt8(ascii: ".") }
            if !isDot { n += 1 }
        }
        return n
        #else
        return nil
        #endif
    }

    /// A whole small file, nil when it cannot be read.
    static func read(_ path: String) -> [UInt8]? {
        #if canImport(Glibc)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
        #else
        return nil
        #endif
    }
}
