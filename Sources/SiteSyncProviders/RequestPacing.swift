import Foundation

/// Keeps a site's requests under its `requests_per_second`: each request takes the next free slot.
public actor RequestLimiter {
    let interval: Double
    var next = Date.distantPast

    public init(perSecond: Double) {
        interval = perSecond > 0 ? 1 / perSecond : 0
    }

    public func acquire() async {
        guard interval > 0 else { return }
        let now = Date()
        let slot = max(now, next)
        next = slot.addingTimeInterval(interval)
        let wait = slot.timeIntervalSince(now)
        if wait > 0 { try? await Task.sleep(nanoseconds: UInt64(wait * 1e9)) }
    }
}

/// How long an HTTP provider waits before retrying a rate-limited or failed request: exponential from `base`
/// seconds, capped at 32 s, with ±50 % jitter so many transfers do not retry in step; a server's Retry-After (up
/// to a minute) is honoured when it asks for longer.
public enum RetryPacing {
    public static func delay(attempt: Int, base: Double, retryAfter: Double?) -> Double {
        let exponential = min(32, base * pow(2, Double(max(0, attempt - 1)))) * (0.5 + Double.random(in: 0..<1))
        return max(exponential, min(retryAfter ?? 0, 60))
    }

    public static func wait(attempt: Int, base: Double, retryAfter: Double?) async throws {
        try await Task.sleep(nanoseconds: UInt64(delay(attempt: attempt, base: base, retryAfter: retryAfter) * 1e9))
    }
}
