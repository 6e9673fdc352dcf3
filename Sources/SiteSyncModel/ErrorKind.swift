/// What kind of problem an error is. The CLI maps it to an exit code and the HTTP API to a status, so a script
/// can tell "fix your input" from "try again later" without reading the message.
public enum ErrorKind: String, Sendable, Codable, CaseIterable {
    /// The thing named does not exist (a representation, a project, a site, a file).
    case notFound = "not_found"
    /// The request clashes with what is there (a duplicate publish, removing the last copy).
    case conflict
    /// The request or the settings are wrong; a person must change them.
    case invalidInput = "invalid_input"
    /// Something needed cannot be reached now (a site, the catalog); the same request may work later.
    case unavailable
    /// A fault of SiteSync or of its storage that the user cannot fix by changing the request.
    case `internal`
    /// What was asked for did not finish in the time given (`ensure --wait`); it goes on in the background.
    case timedOut = "timed_out"
}

/// An error that knows its kind.
public protocol KindedError: Error, CustomStringConvertible {
    var errorKind: ErrorKind { get }
}

extension ErrorKind {
    /// The kind of any error: its own when it has one, else `internal`.
    public static func of(_ error: any Error) -> ErrorKind {
        (error as? any KindedError)?.errorKind ?? .internal
    }
}

/// A user-facing problem: one line that names it and says what to do, with its kind.
public struct SiteSyncError: KindedError, Sendable, Equatable {
    public var kind: ErrorKind
    public var message: String
    public init(_ kind: ErrorKind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
    public var errorKind: ErrorKind { kind }
}

extension SettingsError: KindedError {
    public var errorKind: ErrorKind { .invalidInput }
}

/// Several settings problems found at once, so a file is fixed in one pass instead of one error per import.
public struct SettingsProblems: KindedError, Sendable, Equatable {
    public var problems: [SettingsError]
    /// How many were found; more than `problems` holds when the list was cut short.
    public var total: Int
    public init(_ problems: [SettingsError], total: Int? = nil) {
        self.problems = problems
        self.total = max(total ?? problems.count, problems.count)
    }
    public var errorKind: ErrorKind { .invalidInput }
    public var description: String {
        if problems.count == 1 && total == 1 { return problems[0].description }
        let head = total > problems.count ? "\(total) problems (the first \(problems.count)):" : "\(total) problems:"
        return head + "\n" + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}
