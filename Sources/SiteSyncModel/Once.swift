import Foundation

/// A value set once, awaited by one task: the first `resume` wins, later ones are ignored (the stall watchdog and
/// the transfer race to finish an attempt; a catalog's connect deadline and its connection attempt).
/// Unlike a task group, awaiting it never waits for the loser to notice cancellation.
public final class Once<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value?
    private var waiter: CheckedContinuation<Value, Never>?

    public init() {}

    public func resume(_ v: Value) {
        let w: CheckedContinuation<Value, Never>? = lock.withLock {
            guard value == nil else { return nil }
            value = v
            defer { waiter = nil }
            return waiter
        }
        w?.resume(returning: v)
    }

    /// Whether a value is set (the race is over).
    public var isSet: Bool { lock.withLock { value != nil } }

    public func value() async -> Value {
        await withCheckedContinuation { continuation in
            let ready: Value? = lock.withLock {
                if let value { return value }
                waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
