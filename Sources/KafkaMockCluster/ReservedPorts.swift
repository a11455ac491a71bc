import Glibc
import Synchronization

/// `net.ipv4.ip_local_reserved_ports`, shared by every mock cluster of this process.
enum ReservedPorts {
    static let path = "/proc/sys/net/ipv4/ip_local_reserved_ports"
    static let lock = Mutex<Void>(())

    static func reserve(_ ports: [Int]) -> Bool {
        lock.withLock { _ in
            guard let current = read() else { return false }
            return write(current.union(ports))
        }
    }

    static func release(_ ports: [Int]) {
        lock.withLock { _ in
            if let current = read() { _ = write(current.subtracting(ports)) }
        }
    }

    private static func read() -> Set<Int>? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 65_536)
        let n = fread(&buffer, 1, buffer.count - 1, f)
        let text = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var out = Set<Int>()
        for part in text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " }) {
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            if bounds.count == 1 { out.insert(bounds[0]) } else if bounds.count == 2, bounds[0] <= bounds[1], bounds[1] - bounds[0] < 100_000 {
                out.formUnion(bounds[0]...bounds[1])
            }
        }
        return out
    }

    private static func write(_ ports: Set<Int>) -> Bool {
        guard let f = fopen(path, "w") else { return false }
        let text = ports.sorted().map(String.init).joined(separator: ",") + "\n"
        let ok = fputs(text, f) >= 0
        return fclose(f) == 0 && ok
    }
}
