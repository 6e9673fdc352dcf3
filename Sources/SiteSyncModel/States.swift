/// The state of one file on one site.
public enum FileSyncStatus: String, Sendable, Codable, CaseIterable {
    case queued
    case inProgress = "in_progress"
    case synced
    case failed
    case paused
    /// The catalog said synced, but the copy was found gone (by `verify`, or a transfer that read it).
    case missing
    /// The catalog said synced, but the copy's bytes no longer match their hash.
    case corrupt

    /// Found broken where the catalog had a good copy: not a source, not counted as a copy, healed by
    /// `verify --fix` or `reset`.
    public var isDamaged: Bool { self == .missing || self == .corrupt }
}

/// A representation's state on one site, derived from its files': synced only when every file is.
public enum RepresentationSiteStatus: String, Sendable, Codable {
    case synced, failed, corrupt, missing, inProgress = "in_progress", paused, queued

    public init(files: [FileSyncStatus]) {
        if !files.isEmpty && files.allSatisfy({ $0 == .synced }) { self = .synced }
        else if files.contains(.failed) { self = .failed }
        else if files.contains(.corrupt) { self = .corrupt }
        else if files.contains(.missing) { self = .missing }
        else if files.contains(.inProgress) { self = .inProgress }
        else if files.contains(.paused) { self = .paused }
        else { self = .queued }
    }
}

/// When to try a failed transfer again: exponential backoff with jitter, then give up after `count` tries.
public struct RetryPolicy: Sendable, Equatable {
    public var count: Int
    public var base: Double
    public var max: Double

    public init(count: Int, base: Double, max: Double) {
        self.count = count
        self.base = base
        self.max = max
    }

    /// nil once `tries` reached the count: the file is failed until someone resets it.
    /// `jitter` in 0..<1 spreads retries of many files that failed together (±50 %).
    public func delay(afterTries tries: Int, jitter: Double) -> Double? {
        guard tries < count else { return nil }
        let exponential = base * pow(2, Double(Swift.max(0, tries - 1)))
        return Swift.min(max, exponential) * (0.5 + jitter)
    }
}

import Foundation
