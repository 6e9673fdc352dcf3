import Foundation
import Logging
import SiteSyncProviders
import Synchronization

/// The provider programs of one site: up to `limit` running at once, each serving one operation at a time, kept
/// between operations. A program that failed is replaced, after a pause that doubles with each failure in a row
/// (0.5 s up to 30 s), so a provider that crashes at once does not spin.
actor ProcessPool {
    let settings: ExternalSettings
    let limit: Int
    let logger: Logger
    let baseRedactor: Redactor

    private var idle: [ProviderProcess] = []
    private var running = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var failuresInARow = 0
    private var nextStart = ContinuousClock.now
    /// The last hello, for `check` and for what the provider can do.
    private(set) var lastHello: ExternalHello? {
        didSet {
            let keys = Set(lastHello?.secretOptions ?? [])
            if !keys.isEmpty { learned.withLock { $0 = baseRedactor.adding(Redactor(options: settings.options, secretKeys: keys)) } }
        }
    }
    private let learned: Mutex<Redactor?> = Mutex(nil)

    /// Hides the secret options: those named like secrets, and those the program declared at its hello.
    nonisolated var redactor: Redactor { learned.withLock { $0 } ?? baseRedactor }

    init(settings: ExternalSettings, limit: Int, logger: Logger) {
        self.settings = settings
        self.limit = max(1, limit)
        self.logger = logger
        baseRedactor = Redactor(options: settings.options, secretKeys: ExternalSettings.conventionalSecretKeys)
    }

    /// Runs `body` with a process of its own; the process goes back to the pool if it is still usable.
    func with<T: Sendable>(_ body: @Sendable (ProviderProcess) async throws -> T) async throws -> T {
        let process = try await acquire()
        do {
            let value = try await body(process)
            release(process)
            return value
        } catch {
            release(process)
            throw error
        }
    }

    func acquire() async throws -> ProviderProcess {
        while true {
            try Task.checkCancellation()
            while let p = idle.popLast() {
                if p.isUsable { return p }
                running -= 1
            }
            if running < limit {
                running += 1
                do {
                    let wait = nextStart - ContinuousClock.now
                    if wait > .zero { try await Task.sleep(for: wait) }
                    let p = try await ProviderProcess.start(settings, redactor: baseRedactor, logger: logger)
                    lastHello = p.hello
                    return p
                } catch {
                    running -= 1
                    noteFailure()
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    func release(_ p: ProviderProcess) {
        if p.isUsable {
            failuresInARow = 0
            idle.append(p)
        } else {
            running -= 1
            // A program stopped for a cancelled transfer did nothing wrong: its successor starts at once.
            if !p.endedByCancellation { noteFailure() }
            p.stop()
        }
        wakeOne()
    }

    private func noteFailure() {
        failuresInARow += 1
        let pause = min(30.0, 0.5 * pow(2.0, Double(failuresInARow - 1)))
        nextStart = ContinuousClock.now + .milliseconds(Int(pause * 1000))
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }

    /// The process ids of the programs waiting for work.
    func idlePIDs() -> Set<pid_t> { Set(idle.compactMap(\.pid)) }

    /// Stops every idle program (the provider is going away).
    func stopAll() {
        for p in idle { p.stop() }
        idle.removeAll()
    }
}
