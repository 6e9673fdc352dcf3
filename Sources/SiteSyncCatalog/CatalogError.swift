import SiteSyncModel

/// What a catalog refuses or fails at. `isRetryable` says whether the same call may work later (a lock held by
/// another process, a lost connection); the engine retries those and reports the rest.
public enum CatalogError: KindedError, Equatable, Sendable {
    case duplicateRepresentation(existingID: String, RepresentationContext)
    case duplicatePath(String)
    case unknownProject(String)
    case unknownRepresentation(String)
    case siteAlreadyPresent(site: String, representationID: String)
    case siteNotPresent(site: String, representationID: String)
    case lastCopy(site: String, path: String)
    /// The catalog does not exist yet.
    case notInitialized(String)
    /// Another writer holds the lock longer than we waited.
    case busy(String)
    /// The catalog cannot be reached (connection lost, database down, file system gone).
    case unavailable(String)
    /// The catalog refused this machine (wrong password, TLS the server does not offer): a setting to fix.
    case refused(String)
    /// Anything else the database reported; retrying will not help.
    case storage(String)

    public var description: String {
        switch self {
        case .duplicateRepresentation(let id, let c):
            return "\(c.project)/\(c.folder)/\(c.product) v\(c.version) '\(c.name)' is already published (representation \(id)); publish a new version instead"
        case .duplicatePath(let p):
            return "another representation already has a file at \(p); publish under a different name or version"
        case .unknownProject(let p):
            return "project '\(p)' does not exist; create it with `sitesync project add \(p) --root work=PATH`"
        case .unknownRepresentation(let id):
            return "no representation '\(id)' in the catalog (see `sitesync status`)"
        case .siteAlreadyPresent(let site, let id):
            return "representation \(id) is already on site '\(site)'; force it to queue it again (`--force`, or `\"force\": true` over HTTP)"
        case .siteNotPresent(let site, let id):
            return "representation \(id) has no copy on site '\(site)'"
        case .lastCopy(let site, let path):
            return "refusing: site '\(site)' (with its alternates) holds the only synced copy of \(path); sync it to another site first"
        case .notInitialized(let message):
            return message
        case .busy(let message):
            return "the catalog is busy (another process holds its lock): \(message); try again"
        case .unavailable(let message):
            return "the catalog cannot be reached: \(message)"
        case .refused(let message):
            return "the catalog refused this machine: \(message)"
        case .storage(let message):
            return "catalog error: \(message)"
        }
    }

    public var isRetryable: Bool {
        switch self {
        case .busy, .unavailable: return true
        default: return false
        }
    }

    public var errorKind: ErrorKind {
        switch self {
        case .duplicateRepresentation, .duplicatePath, .siteAlreadyPresent, .lastCopy: return .conflict
        case .unknownProject, .unknownRepresentation, .siteNotPresent, .notInitialized: return .notFound
        case .busy, .unavailable: return .unavailable
        case .refused: return .invalidInput
        case .storage: return .internal
        }
    }
}
