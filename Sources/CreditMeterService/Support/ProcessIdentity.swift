import Foundation

/// This process as other processes see it: snapshot temp files and ownership announcements
/// name their writer with it.
enum ProcessIdentity {
    /// The host name, looked up once per process ("unknown" when it cannot be read).
    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "unknown" : name
    }()

    /// `<host>-<pid>`.
    static var hostAndPID: String { "\(hostName)-\(getpid())" }
}
