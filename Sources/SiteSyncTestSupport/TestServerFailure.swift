/// Why a server a test needs (sshd, PostgreSQL, an S3 server) could not be started: one line naming the package or
/// command that fixes it. Never a silent skip.
public enum TestServerFailure: Error, CustomStringConvertible {
    case missing(String)
    case notRoot(String)
    case failed(String)

    public var description: String {
        switch self {
        case .missing(let what), .notRoot(let what), .failed(let what): return what
        }
    }
}
