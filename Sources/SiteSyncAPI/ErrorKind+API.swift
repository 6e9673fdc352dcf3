import SiteSyncModel

/// How each kind of error ends a command and answers an HTTP request.
extension ErrorKind {
    /// `sitesync` exit codes (documented in the README). 64 is ArgumentParser's for a malformed command line.
    public var exitCode: Int32 {
        switch self {
        case .internal: return 1
        case .invalidInput: return 2
        case .notFound: return 3
        case .conflict: return 4
        case .unavailable: return 5
        case .timedOut: return 6
        }
    }

    public var httpStatus: Int {
        switch self {
        case .notFound: return 404
        case .conflict: return 409
        case .invalidInput: return 400
        case .unavailable: return 503
        case .internal: return 500
        case .timedOut: return 504
        }
    }
}

/// An error as JSON: `{"error": {"kind": "not_found", "message": "…"}}`.
public struct ErrorJSON: Codable, Sendable, Equatable {
    public struct Body: Codable, Sendable, Equatable {
        public var kind: ErrorKind
        public var message: String
    }
    public var error: Body

    public init(kind: ErrorKind, message: String) {
        error = Body(kind: kind, message: message)
    }

    public init(_ error: any Error) {
        self.error = Body(kind: ErrorKind.of(error), message: "\(error)")
    }
}
