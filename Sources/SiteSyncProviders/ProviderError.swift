import SiteSyncModel

/// A provider's failure. Its kind decides what the engine does next: retry (counting a try or not), wait for the
/// site, or stop and ask a person.
public struct ProviderError: KindedError, Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// The file is not there.
        case notFound
        /// Settings are wrong or incomplete; a person must change them.
        case configuration
        /// The site cannot be reached now (unmounted disk, network).
        case unavailable
        /// What arrived did not match its hash (the target's fault, or the storage's).
        case integrity
        /// The copy a transfer reads from is not there: the catalog was wrong about the source.
        case sourceMissing
        /// The copy a transfer reads from does not hash to the catalog's value: the source copy is damaged.
        case sourceCorrupt
        /// Rate limit or quota: retry later without counting a try.
        case quota
        /// Anything else that may work on a later try.
        case transient
        case cancelled
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// How the error reads to the CLI and the HTTP API.
    public var errorKind: ErrorKind {
        switch kind {
        case .notFound, .sourceMissing: return .notFound
        case .configuration: return .invalidInput
        case .unavailable, .quota, .transient, .cancelled: return .unavailable
        case .integrity, .sourceCorrupt: return .internal
        }
    }
}
