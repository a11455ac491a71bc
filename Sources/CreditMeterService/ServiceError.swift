/// A failure with a one-line, human-readable reason (the command line prints it as is).
public struct ServiceError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
