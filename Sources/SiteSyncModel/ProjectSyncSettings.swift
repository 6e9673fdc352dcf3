import Foundation

/// The `sitesync` block of a project after layering.
public struct ProjectSyncSettings: Sendable, Equatable {
    public var enabled: Bool = true
    public var retryCount: Int = 3
    /// Seconds between polls of the catalog for work other machines queued; new local work starts at once.
    public var loopDelay: Double = 60
    public var activeSite: String = Names.studio
    public var remoteSite: String = Names.studio
    public var alwaysAccessibleOn: [String] = []
    public var publishTemplate: PathTemplate
    /// Where an artist's work file for a task goes (`sitesync workfile`).
    public var workTemplate: PathTemplate
    /// First retry waits about this many seconds; each further one twice as long, with jitter, up to `retryBackoffMax`.
    public var retryBackoff: Double = 10
    public var retryBackoffMax: Double = 3600
    /// `remove-site` keeps at least this many synced copies of every file, checked on the storage (git-annex's
    /// numcopies).
    public var minCopies: Int = 1

    public init() {
        publishTemplate = PathTemplate.standardPublish
        workTemplate = PathTemplate.standardWork
    }

    /// The keys of a `sitesync` block.
    public static let options: [OptionSpec] = [
        OptionSpec("enabled", .boolean, default: "true", help: "false: everyone works on studio"),
        OptionSpec("retry_count", .integer, default: "3", range: 1...1_000_000, help: "tries before a file is failed"),
        OptionSpec("retry_cnt", .integer, range: 1...1_000_000, help: "OpenPype's name for retry_count"),
        OptionSpec("loop_delay", .number, default: "60", range: 0.001...Double.greatestFiniteMagnitude,
                   help: "seconds between polls for work and settings changes; more than 0"),
        OptionSpec("active_site", .text, default: "studio", help: "the site this machine works on (`local` for its own)"),
        OptionSpec("remote_site", .text, default: "studio", help: "the site it syncs with"),
        OptionSpec("always_accessible_on", .names, help: "sites every publish is copied to"),
        OptionSpec("sites", .text, help: "per-project overrides of site settings"),
        OptionSpec("publish_template", .text, help: "where published files go, e.g. {root[work]}/{project}/{folder}/publish/{product}/v{version:03}"),
        OptionSpec("work_template", .text, help: "an artist's work file, e.g. {root[work]}/{project}/{folder}/work/{task}/{folder_name}_{task}_v{version:03}{ext}"),
        OptionSpec("retry_backoff", .number, default: "10", range: 0...Double.greatestFiniteMagnitude, help: "seconds before the first retry"),
        OptionSpec("retry_backoff_max", .number, default: "3600", range: 0...Double.greatestFiniteMagnitude, help: "longest wait between retries"),
        OptionSpec("min_copies", .integer, default: "1", range: 1...100, help: "copies remove-site always leaves, checked on the storage"),
    ]

    static func parse(_ value: ConfigValue?, path: String) throws -> ProjectSyncSettings {
        let r = try ConfigReader(value, path: path)
        var s = ProjectSyncSettings()
        s.enabled = try r.bool("enabled") ?? s.enabled
        s.retryCount = try r.int("retry_count") ?? r.int("retry_cnt") ?? s.retryCount
        guard s.retryCount >= 1 else { throw SettingsError(r.key("retry_count"), "must be at least 1") }
        s.loopDelay = try r.double("loop_delay") ?? s.loopDelay
        guard s.loopDelay > 0 else { throw SettingsError(r.key("loop_delay"), "must be more than 0 seconds") }
        s.activeSite = try r.string("active_site") ?? s.activeSite
        s.remoteSite = try r.string("remote_site") ?? s.remoteSite
        try Names.validateSite(s.activeSite, at: r.key("active_site"))
        try Names.validateSite(s.remoteSite, at: r.key("remote_site"))
        s.alwaysAccessibleOn = try r.stringList("always_accessible_on") ?? []
        for (i, site) in s.alwaysAccessibleOn.enumerated() {
            try Names.validateSite(site, at: "\(r.key("always_accessible_on"))[\(i)]")
        }
        if let template = try r.string("publish_template") {
            do { s.publishTemplate = try PathTemplate(template) } catch let e as SettingsError {
                throw SettingsError(r.key("publish_template"), e.problem)
            }
        }
        if let template = try r.string("work_template") {
            do { s.workTemplate = try PathTemplate(template, kind: .work) } catch let e as SettingsError {
                throw SettingsError(r.key("work_template"), e.problem)
            }
        }
        s.retryBackoff = try r.double("retry_backoff") ?? s.retryBackoff
        s.retryBackoffMax = try r.double("retry_backoff_max") ?? s.retryBackoffMax
        s.minCopies = try r.int("min_copies") ?? s.minCopies
        guard s.minCopies >= 1 else { throw SettingsError(r.key("min_copies"), "must be at least 1") }
        guard s.retryBackoff >= 0, s.retryBackoffMax >= s.retryBackoff else {
            throw SettingsError(r.key("retry_backoff"), "must be 0 or more and not above retry_backoff_max")
        }
        return s
    }
}
