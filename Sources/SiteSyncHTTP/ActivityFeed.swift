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
    private let samples = Mutex<[String: (bytes: Int64, at: Date, rate: Double?)]>([:])

    init(engine: SiteSync, progress: (@Sendable () -> ServerProgress)?) {
        self.engine = engine
        self.progress = progress
    }

    func snapshot(project: String?, recent: Int) async throws -> ActivityJSON {
        let activity = try await engine.activity(project: project, recent: recent)
        let now = Date()
        let rates = samples.withLock { samples -> [String: Double] in
            var next: [String: (bytes: Int64, at: Date, rate: Double?)] = [:]
            var rates: [String: Double] = [:]
            for r in activity.running {
                let key = "\(r.file.id)@\(r.site)"
                guard let before = samples[key] else {
                    next[key] = (r.bytesDone, now, nil)
                    continue
                }
                if r.bytesDone == before.bytes {
                    // Servers report bytes every second or so: an unchanged count says nothing new yet.
                    next[key] = before
                } else {
                    let seconds = now.timeIntervalSince(before.at)
                    next[key] = (r.bytesDone, now, seconds > 0 ? Double(r.bytesDone - before.bytes) / seconds : before.rate)
                }
                if let rate = next[key]?.rate { rates[key] = rate }
            }
            samples = next
            return rates
        }
        return ActivityJSON(activity, server: progress?(), rates: rates, now: now)
    }
}
