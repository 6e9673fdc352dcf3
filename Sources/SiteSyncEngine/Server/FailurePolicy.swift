import Foundation
import SiteSyncModel
import SiteSyncProviders

/// What to do after a transfer failed, decided from the error's kind, the tries used and the project's retry
/// policy alone. Pure: tests check every branch without running a transfer or waiting.
enum FailurePolicy {
    enum Decision: Equatable, Sendable {
        /// Give the lease back untouched (cancelled: paused, shut down).
        case release
        /// Queue it again for `at`; `countsAsTry` false for quota and an unreachable site (not the file's fault).
        case retry(at: Date, countsAsTry: Bool)
        /// Out of tries: failed until someone resets it.
        case fail
    }

    struct Verdict: Equatable, Sendable {
        var decision: Decision
        var message: String
        /// The site itself could not be reached: check it again before claiming more of its work.
        var siteTrouble: Bool
        /// The source's copy was found `missing` or `corrupt`: mark it so, and read the file from another site.
        var damagedSource: FileSyncStatus? = nil
    }

    /// `tries`: tries used before this attempt. `jitter` in 0..<1 spreads retries of files that failed together.
    static func decide(_ error: any Error, tries: Int, policy: RetryPolicy, now: Date, jitter: Double) -> Verdict {
        let providerError = error as? ProviderError
        if error is CancellationError || providerError?.kind == .cancelled {
            return Verdict(decision: .release, message: "cancelled", siteTrouble: false)
        }
        let message = providerError?.message ?? "\(error)"
        if providerError?.kind == .sourceMissing || providerError?.kind == .sourceCorrupt {
            // Not this file's fault, nor the target's: the catalog was wrong about the source. Try again at once
            // from another copy, without using up a try.
            return Verdict(decision: .retry(at: now, countsAsTry: false), message: message, siteTrouble: false,
                           damagedSource: providerError?.kind == .sourceMissing ? .missing : .corrupt)
        }
        let siteTrouble = providerError?.kind == .unavailable
        let countsAsTry = providerError?.kind != .quota && !siteTrouble
        if !countsAsTry {
            // Not the file's fault: wait about one backoff step and try again, without using up a try.
            let wait = max(policy.base, 1) * (0.5 + jitter)
            return Verdict(decision: .retry(at: now.addingTimeInterval(wait), countsAsTry: false), message: message,
                           siteTrouble: siteTrouble)
        }
        guard let wait = policy.delay(afterTries: tries + 1, jitter: jitter) else {
            return Verdict(decision: .fail, message: message, siteTrouble: false)
        }
        return Verdict(decision: .retry(at: now.addingTimeInterval(wait), countsAsTry: true), message: message,
                       siteTrouble: false)
    }
}
