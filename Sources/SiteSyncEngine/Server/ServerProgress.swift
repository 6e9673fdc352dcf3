import Foundation
import SiteSyncCatalog

/// One running transfer, as a progress display shows it.
public struct TransferProgress: Sendable, Equatable {
    public var fileID: String
    /// Rootless catalog path.
    public var path: String
    public var source: String
    public var target: String
    public var bytesDone: Int64
    public var size: Int64
    public var startedAt: Date
}

/// What a server is doing now: its running transfers and what it finished so far. The CLI's progress line and
/// the web UI read this; the engine never draws anything.
public struct ServerProgress: Sendable, Equatable {
    public var running: [TransferProgress]
    public var synced: Int
    public var syncedBytes: Int64
    public var failed: Int
    /// Sites this server cannot use now, and why (an unmounted share, a server down).
    public var unavailable: [String: String] = [:]
    /// When each site was last checked (the ones in `unavailable` failed that check).
    public var checked: [String: Date] = [:]

    /// Bytes moved so far, finished transfers and running ones together.
    public var bytes: Int64 { syncedBytes + running.reduce(0) { $0 + $1.bytesDone } }
}

/// Progress written by transfer threads and the loop, read by displays. Cheap to update from a hot copy loop.
final class ProgressBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var running: [FileKey: TransferProgress] = [:]
    /// When each running transfer last moved a byte (monotonic nanoseconds), for the stall watchdog.
    private var lastMoved: [FileKey: UInt64] = [:]
    private var synced = 0
    private var syncedBytes: Int64 = 0
    private var failed = 0
    private var unavailable: [String: String] = [:]
    private var checked: [String: Date] = [:]

    func setUnavailable(_ site: String, _ why: String?, checkedAt: Date) {
        lock.withLock {
            unavailable[site] = why
            checked[site] = checkedAt
        }
    }

    func start(_ item: WorkItem, at: Date) {
        let entry = TransferProgress(fileID: item.file.id, path: item.file.path, source: item.source, target: item.target,
                                     bytesDone: 0, size: item.file.size, startedAt: at)
        let now = DispatchTime.now().uptimeNanoseconds
        lock.withLock {
            running[item.key] = entry
            lastMoved[item.key] = now
        }
    }

    func set(_ key: FileKey, _ bytes: Int64) {
        let now = DispatchTime.now().uptimeNanoseconds
        lock.withLock {
            if running[key]?.bytesDone != bytes { lastMoved[key] = now }
            running[key]?.bytesDone = bytes
        }
    }

    /// Seconds since the transfer last moved a byte; nil when it is not running.
    /// `now` is read before the lock, so a transfer thread may record a later moment in between: that is "idle for
    /// 0 s", never a wrapped-around 584 years that the watchdog would take for a stall.
    func idleSeconds(_ key: FileKey, now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Double? {
        lock.withLock { lastMoved[key].map { now > $0 ? Double(now - $0) / 1e9 : 0 } }
    }

    func bytes(_ key: FileKey) -> Int64? { lock.withLock { running[key]?.bytesDone } }

    func finish(_ key: FileKey, synced size: Int64?, failed: Bool) {
        lock.withLock {
            running.removeValue(forKey: key)
            lastMoved.removeValue(forKey: key)
            if let size {
                synced += 1
                syncedBytes += size
            }
            if failed { self.failed += 1 }
        }
    }

    func snapshot() -> ServerProgress {
        lock.withLock {
            ServerProgress(running: running.values.sorted { ($0.startedAt, $0.path) < ($1.startedAt, $1.path) },
                           synced: synced, syncedBytes: syncedBytes, failed: failed, unavailable: unavailable, checked: checked)
        }
    }
}
