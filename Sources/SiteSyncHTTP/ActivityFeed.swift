import Foundation
import SiteSyncAPI
import SiteSyncCatalog
import SiteSyncEngine
import Synchronization

/// Builds `/activity` answers and `/events` updates: the catalog's view of every server, this process's own
/// transfers (source, start, speed) when a server runs here, and the speed of other servers' rows measured
/// between two looks.
final class ActivityFeed: Sendable {
    let engine: SiteSync
    let progress: (@Sendable () -> ServerProgress)?
    /// Each running row's bytes when it was first seen: its speed is the average since then.
    private let firstSeen = Mutex<[String: (bytes: Int64, at: Date)]>([:])

    init(engine: SiteSync, progress: (@Sendable () -> ServerProgress)?) {
        self.engine = engine
        self.progress = progress
    }

    func snapshot(project: String?, recent: Int) async throws -> ActivityJSON {
        let activity = try await engine.activity(project: project, recent: recent)
        let now = Date()
        let rates = firstSeen.withLock { firstSeen -> [String: Double] in
            var next: [String: (bytes: Int64, at: Date)] = [:]
            var rates: [String: Double] = [:]
            for r in activity.running {
                let key = "\(r.file.id)@\(r.site)"
                // The first look is the reference: the average since then does not jump with the moments at
                // which servers report (about once a second) and this endpoint is asked.
                let first = firstSeen[key] ?? (r.bytesDone, now)
                next[key] = first
                let seconds = now.timeIntervalSince(first.at)
                if seconds >= 1, r.bytesDone > first.bytes { rates[key] = Double(r.bytesDone - first.bytes) / seconds }
            }
            firstSeen = next
            return rates
        }
        var json = ActivityJSON(activity, server: progress?(), rates: rates, now: now)
        json.serverPaused = (try? await engine.catalog.isServerPaused()) ?? false
        return json
    }
}
