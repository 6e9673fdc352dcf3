import CoreMetrics
import Foundation

/// The sync server's series, through swift-metrics: the composition root picks the backend (Prometheus for
/// `/metrics`); without one they cost nothing. Labels are site names, never paths: a series per file would
/// swamp any Prometheus.
public struct SyncMetrics: Sendable {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.factory = factory
    }

    /// A transfer ended: `outcome` is `synced`, `adopted`, `retry` or `failed`.
    func transfer(source: String, target: String, outcome: String, bytes: Int64, seconds: Double?) {
        Counter(label: "sitesync_transfers_total", dimensions: [("source", source), ("target", target), ("outcome", outcome)],
                factory: factory).increment()
        if bytes > 0 {
            Counter(label: "sitesync_bytes_moved_total", dimensions: [("source", source), ("target", target)], factory: factory)
                .increment(by: bytes)
        }
        if let seconds {
            Timer(label: "sitesync_transfer_duration_seconds", dimensions: [("source", source), ("target", target)], factory: factory)
                .recordSeconds(seconds)
        }
    }

    func retryScheduled(target: String) {
        Counter(label: "sitesync_retries_scheduled_total", dimensions: [("target", target)], factory: factory).increment()
    }

    /// 1 when the site's last check worked, 0 when it did not.
    func site(_ name: String, up: Bool) {
        Gauge(label: "sitesync_site_up", dimensions: [("site", name)], factory: factory).record(up ? 1 : 0)
    }

    /// File × site rows per site and state, as the catalog counts them.
    public func queueDepth(_ states: [String: [String: Int]]) {
        for (site, counts) in states {
            for (status, n) in counts {
                Gauge(label: "sitesync_queue_depth", dimensions: [("site", site), ("status", status)], factory: factory).record(n)
            }
        }
    }
}
