import Foundation

/// What a server run did.
public struct RunSummary: Sendable {
    public struct Moved: Sendable {
        public var path: String
        public var source: String
        public var target: String
        public var size: Int64
        public var seconds: Double
    }
    /// Files copied.
    public var moved: [Moved] = []
    /// Copies made on the target from an identical file already there (a republished version's unchanged files):
    /// nothing was sent.
    public var deduplicated: [Moved] = []
    /// "path → site": files found already there with the right bytes, recorded without a copy.
    public var adopted: [String] = []
    /// Files that were in the way (not written by SiteSync, or damaged) and were moved aside, never deleted.
    public var conflicts: [String] = []
    /// "path on site: how": copies found missing or corrupt while reading them; the file came from another site.
    public var damaged: [String] = []
    /// "path → site: reason" for files that ran out of tries during this run.
    public var failed: [String] = []
    public var retriesScheduled = 0
    /// Sites that could not be used while they had work waiting, with the reason. A site that projects configure
    /// differently is named with the projects: `studio (project aliens)`.
    public var unavailable: [String: String] = [:]
    public var elapsed: Double = 0

    public var bytes: Int64 { moved.reduce(0) { $0 + $1.size } }
    public var succeeded: Bool { failed.isEmpty && unavailable.isEmpty }
}
