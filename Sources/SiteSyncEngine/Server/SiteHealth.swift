import Foundation

/// Whether each site (each distinct configuration of one: projects have their own roots) worked when last checked, and when to check again: a site that failed is checked again
/// after 5 s, one that worked after 5 min. An outage then skips the site's work instead of failing it file by
/// file, and the server notices promptly when the site comes back.
struct SiteHealth<Key: Hashable & Sendable>: Sendable {
    struct Check: Sendable, Equatable {
        var ok: Bool
        var at: Date
        var message: String
    }

    static var recheckUnhealthy: TimeInterval { 5 }
    static var recheckHealthy: TimeInterval { 300 }

    private(set) var checks: [Key: Check] = [:]

    /// The last check of the site while it is still fresh; nil when a check is due.
    func fresh(_ site: Key, now: Date) -> Check? {
        guard let c = checks[site] else { return nil }
        return now.timeIntervalSince(c.at) < (c.ok ? Self.recheckHealthy : Self.recheckUnhealthy) ? c : nil
    }

    /// Checked recently and fine: no need to look before claiming its work.
    func knownHealthy(_ site: Key, now: Date) -> Bool {
        fresh(site, now: now)?.ok == true
    }

    /// Records a check; returns the previous one, so the caller logs only changes.
    @discardableResult
    mutating func record(_ site: Key, ok: Bool, message: String = "", now: Date) -> Check? {
        let previous = checks[site]
        checks[site] = Check(ok: ok, at: now, message: message)
        return previous
    }

    /// Forget what we knew: the next claim checks the site first (a transfer just could not reach it).
    mutating func forget(_ site: Key) {
        checks[site] = nil
    }
}
