import Foundation
import SiteSyncEngine
import SiteSyncModel

/// `site list --json`: the sites a project can use.
public struct SiteListJSON: Codable, Sendable, Equatable {
    public var project: String
    public var sites: [SiteJSON]

    public init(project: String, sites: [SiteSync.SiteInfo]) {
        self.project = project
        self.sites = sites.map(SiteJSON.init)
    }
}

public struct SiteJSON: Codable, Sendable, Equatable {
    public var name: String
    public var provider: String
    /// Root name → path on this machine's platform.
    public var roots: [String: String]
    public var alternates: [String]
    /// `this machine`, `active`, `remote`, `always accessible`.
    public var roles: [String]
    public var enabled: Bool
    public var capabilities: [String]
    /// Every key of the site's settings, secrets as `***`.
    public var settings: ConfigValue
    /// The HTTP API's: whether the site worked when last checked (absent from `site list --json`).
    public var health: SiteHealthJSON?

    public init(_ s: SiteSync.SiteInfo) {
        name = s.config.name
        provider = s.config.provider
        roots = s.rootPaths
        alternates = s.alternates
        roles = s.roles
        enabled = s.config.enabled
        capabilities = s.capabilities.names
        settings = s.shownOptions
    }
}

/// A site's last check: when, whether it worked, and what it said if not.
public struct SiteHealthJSON: Codable, Sendable, Equatable {
    public var checkedAt: Date
    public var ok: Bool
    public var message: String?

    public init(checkedAt: Date, ok: Bool, message: String?) {
        self.checkedAt = checkedAt
        self.ok = ok
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case ok, message
        case checkedAt = "checked_at"
    }
}

/// `project list --json`.
public struct ProjectListJSON: Codable, Sendable, Equatable {
    public struct Project: Codable, Sendable, Equatable {
        public var name: String
        public var enabled: Bool
        public var paused: Bool
        public var activeSite: String
        public var remoteSite: String
        enum CodingKeys: String, CodingKey {
            case name, enabled, paused
            case activeSite = "active_site"
            case remoteSite = "remote_site"
        }
    }
    public var projects: [Project]

    public init(_ projects: [SiteSync.ProjectInfo]) {
        self.projects = projects.map {
            Project(name: $0.name, enabled: $0.enabled, paused: $0.paused, activeSite: $0.activeSite, remoteSite: $0.remoteSite)
        }
    }
}

/// `server --json`: what a run did.
public struct RunSummaryJSON: Codable, Sendable, Equatable {
    public struct Moved: Codable, Sendable, Equatable {
        public var path: String
        public var source: String
        public var target: String
        public var size: Int64
        public var seconds: Double
    }
    public var moved: [Moved]
    /// Made on the target from an identical file already there; nothing sent.
    public var deduplicated: [Moved]
    public var adopted: [String]
    public var conflicts: [String]
    public var damaged: [String]
    public var failed: [String]
    public var retriesScheduled: Int
    public var unavailable: [String: String]
    public var bytes: Int64
    public var elapsed: Double
    public var succeeded: Bool

    enum CodingKeys: String, CodingKey {
        case moved, deduplicated, adopted, conflicts, damaged, failed, unavailable, bytes, elapsed, succeeded
        case retriesScheduled = "retries_scheduled"
    }

    public init(_ s: RunSummary) {
        moved = s.moved.map { Moved(path: $0.path, source: $0.source, target: $0.target, size: $0.size, seconds: $0.seconds) }
        deduplicated = s.deduplicated.map { Moved(path: $0.path, source: $0.source, target: $0.target, size: $0.size, seconds: $0.seconds) }
        adopted = s.adopted
        conflicts = s.conflicts
        damaged = s.damaged
        failed = s.failed
        retriesScheduled = s.retriesScheduled
        unavailable = s.unavailable
        bytes = s.bytes
        elapsed = s.elapsed
        succeeded = s.succeeded
    }
}

/// `verify --json`: what was read back and found.
public struct VerifyJSON: Codable, Sendable, Equatable {
    public var checked: Int
    public var good: Int
    public var missing: [String]
    public var corrupt: [String]
    public var skipped: [String: String]
    public var requeued: Int
    public var clean: Bool

    public init(_ r: SiteSync.VerifyReport) {
        checked = r.checked
        good = r.good
        missing = r.missing
        corrupt = r.corrupt
        skipped = r.skipped
        requeued = r.requeued
        clean = r.clean
    }
}
