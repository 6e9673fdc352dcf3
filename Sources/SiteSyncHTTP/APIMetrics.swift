import CoreMetrics
import Foundation
import Prometheus
import SiteSyncEngine
import SiteSyncModel
import Synchronization

/// `/metrics`: the engine's series (transfers by source, target and outcome; bytes moved; durations; retries;
/// sites up) in a Prometheus registry, plus the queue depth per site and state, counted from the catalog when
/// scraped — at most every 30 s, since it counts every row.
public final class APIMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// What the engine records into.
    public let sync: SyncMetrics
    let countedAt = Mutex<ContinuousClock.Instant?>(nil)
    static let recount: Duration = .seconds(30)

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Transfers last from milliseconds (a small frame) to hours (a 100 GiB cache over a slow link).
        factory.defaultDurationHistogramBuckets = [.milliseconds(10), .milliseconds(100), .milliseconds(500), .seconds(1),
                                                   .seconds(5), .seconds(30), .seconds(120), .seconds(600), .seconds(3600)]
        sync = SyncMetrics(factory: factory)
    }

    /// The text Prometheus scrapes.
    func render(_ engine: SiteSync) async -> String {
        let due = countedAt.withLock { last -> Bool in
            let now = ContinuousClock.now
            guard last.map({ now - $0 >= Self.recount }) ?? true else { return false }
            last = now
            return true
        }
        if due, let report = try? await engine.catalog.report(now: Date()) {
            // Every state of every site, zeros included: an alert on "failed > 0" needs the series to exist.
            sync.queueDepth(report.states.mapValues { counts in
                Dictionary(uniqueKeysWithValues: FileSyncStatus.allCases.map { ($0.rawValue, counts[$0] ?? 0) })
            })
        }
        return registry.emitToString()
    }
}
