import Foundation

/// Lanes found with no work waiting, for a moment. Before a lane whose site has not been checked claims, the
/// server asks the catalog whether the lane has work at all (an unreachable site without work is no news). That
/// question reads every queued copy of the target (the copies whose source holds the file are not indexed), and
/// a server asked it at every refill: 5,000 small files to a site of 8 slots, with an idle workstation lane beside
/// the studio's, took 24 s instead of 0.9 s (2026-12-08), nearly all of it in that query. A lane found quiet is
/// therefore not asked again for `window` while other transfers run; when none runs, it always is, so `--once`
/// never stops with work a transfer of this run made possible.
struct QuietLanes: Sendable {
    static var window: TimeInterval { 1 }

    struct Lane: Hashable, Sendable {
        var source: String
        var target: String
    }

    private var quietSince: [Lane: Date] = [:]

    /// Whether to skip asking about the lane now: found quiet less than `window` ago, and transfers still run.
    func skip(_ lane: Lane, now: Date, transfersRunning: Bool) -> Bool {
        guard transfersRunning, let since = quietSince[lane] else { return false }
        return now.timeIntervalSince(since) < Self.window
    }

    mutating func noteQuiet(_ lane: Lane, now: Date) {
        quietSince[lane] = now
    }

    mutating func noteBusy(_ lane: Lane) {
        quietSince[lane] = nil
    }
}
