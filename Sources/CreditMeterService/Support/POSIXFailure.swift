import Foundation

/// A failed system call, with `errno`'s text (read where the call failed).
struct POSIXFailure: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
}
