import Foundation

/// Where configuration files are read from: the disk, or the built-in copy of configs/.
public struct ConfigFiles: Sendable {
    let read: @Sendable (String) throws -> String
    let list: @Sendable (String) throws -> [String]

    public static let disk = ConfigFiles(
        read: { try String(contentsOfFile: $0, encoding: .utf8) },
        list: { try FileManager.default.contentsOfDirectory(atPath: $0) })

    public static let shipped = ConfigFiles(
        read: { path in
            guard path.hasPrefix(ShippedConfiguration.root + "/"),
                  let text = ShippedConfiguration.text(String(path.dropFirst(ShippedConfiguration.root.count + 1))) else {
                throw CocoaError(.fileReadNoSuchFile)
            }
            return text
        },
        list: { dir in
            let prefix = dir.hasSuffix("/") ? dir : dir + "/"
            guard prefix.hasPrefix(ShippedConfiguration.root + "/") else { throw CocoaError(.fileReadNoSuchFile) }
            let inner = String(prefix.dropFirst(ShippedConfiguration.root.count + 1))
            let names = ShippedConfiguration.paths.compactMap { p -> String? in
                guard p.hasPrefix(inner) else { return nil }
                let rest = p.dropFirst(inner.count)
                return rest.contains("/") ? nil : String(rest)
            }
            guard !names.isEmpty else { throw CocoaError(.fileReadNoSuchFile) }
            return names
        })
}
