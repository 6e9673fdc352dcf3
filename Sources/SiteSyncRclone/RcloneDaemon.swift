import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SiteSyncModel
import SiteSyncProviders
import Subprocess
import Synchronization
#if canImport(SystemPackage)
import SystemPackage
#endif

/// One `rclone rcd` for a site, kept for the site's life: started on first use on 127.0.0.1 with a port the
/// kernel picks and credentials made up for it (handed over in the environment, never on the command line where
/// `ps` shows them), stopped with the provider, started again when it died (after a pause that doubles with each
/// failure in a row, 0.5 s up to 30 s).
actor RcloneDaemon {
    struct Endpoint: Sendable {
        var base: String
        var authorization: String
        var instance: Instance
    }

    /// The running process: its stderr tail, whether it ended, and how to kill it.
    final class Instance: Sendable {
        let state = Mutex<(ended: Bool, tail: [String], kill: AsyncStream<Void>.Continuation?)>((false, [], nil))
        var ended: Bool { state.withLock { $0.ended } }
        var tail: String { state.withLock { $0.tail.joined(separator: " | ") } }
        func kill() { state.withLock { $0.kill }?.yield() }
    }

    let settings: RcloneSettings
    let logger: Logger
    private var current: Endpoint?
    private var failuresInARow = 0
    private var nextStart = ContinuousClock.now

    init(settings: RcloneSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// The running daemon, started (again) when there is none.
    func endpoint() async throws -> Endpoint {
        if let current, !current.instance.ended { return current }
        current = nil
        let wait = nextStart - ContinuousClock.now
        if wait > .zero { try await Task.sleep(for: wait) }
        do {
            let e = try await start()
            current = e
            failuresInARow = 0
            return e
        } catch {
            failuresInARow += 1
            nextStart = ContinuousClock.now + .milliseconds(Int(min(30.0, 0.5 * pow(2.0, Double(failuresInARow - 1))) * 1000))
            throw error
        }
    }

    /// The daemon stopped answering: the next call starts a new one.
    func forget(_ instance: Instance) {
        if current?.instance === instance { current = nil }
        instance.kill()
    }

    func stop() {
        current?.instance.kill()
        current = nil
    }

    private func start() async throws -> Endpoint {
        let user = "sitesync"
        let password = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined()
        var arguments = ["rcd", "--rc-addr", "127.0.0.1:0", "--log-level", "NOTICE"]
        if let config = settings.configFile { arguments += ["--config", config] }
        // SiteSync's bandwidth_limit is per transfer, as rclone's --bwlimit-file (--bwlimit would cap the site).
        if let limit = settings.bytesPerSecond { arguments += ["--bwlimit-file", "\(limit)B"] }
        arguments += settings.flags
        let program = settings.program
        let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
        // rclone's S3 backend refuses AWS_CA_BUNDLE with its own HTTP transport (LoadCustomCABundleError); a CA
        // for rclone is given with its --ca-cert flag instead.
        let environment = Environment.inherit.updating(["RCLONE_RC_USER": user, "RCLONE_RC_PASS": password, "AWS_CA_BUNDLE": nil])
        let configuration = Configuration(executable: executable, arguments: Arguments(arguments), environment: environment)
        let instance = Instance()
        let (kills, killer) = AsyncStream<Void>.makeStream()
        instance.state.withLock { $0.kill = killer }
        let address = AddressGate()
        ChildProcesses.prepare()
        let site = settings.site
        let logger = self.logger
        Task.detached {
            do {
                let outcome = try await Subprocess.run(configuration, input: .none, output: .discarded, error: .sequence) { execution in
                    ChildProcesses.started(execution.processIdentifier.value)
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await _ in kills {
                                try? execution.send(signal: .kill)
                                break
                            }
                        }
                        do {
                            for try await line in execution.standardError.strings() {
                                let text = RcloneDaemon.redact(line)
                                instance.state.withLock {
                                    $0.tail.append(text)
                                    if $0.tail.count > 5 { $0.tail.removeFirst() }
                                }
                                if let range = line.range(of: "Serving remote control on ") {
                                    address.open(String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces))
                                } else {
                                    logger.info("site \(site) rclone: \(text)")
                                }
                            }
                        } catch {}
                        killer.finish()
                        group.cancelAll()
                    }
                }
                ChildProcesses.ended(outcome.processIdentifier.value)
                let how: String
                switch outcome.terminationStatus {
                case .exited(let code): how = "exited with status \(code)"
                case .signaled(let signal): how = "was ended by signal \(signal)"
                }
                instance.state.withLock { $0.ended = true }
                address.fail(ProviderError(.unavailable, "site '\(site)': rclone rcd \(how) at start: \(instance.tail)"))
                logger.info("site \(site): rclone rcd \(how)")
            } catch {
                instance.state.withLock { $0.ended = true }
                address.fail(ProviderError(.configuration, "sites.\(site).rclone: cannot start `\(program)`: \(error); install rclone (Debian: apt install rclone) or set the program's path"))
            }
        }
        let base = try await address.wait(seconds: 30, site: site)
        let token = Data("\(user):\(password)".utf8).base64EncodedString()
        return Endpoint(base: base.hasSuffix("/") ? base : base + "/", authorization: "Basic \(token)", instance: instance)
    }

    /// Hides secret parameters an rclone log line may repeat (`pass=…` in a connection string).
    static func redact(_ line: String) -> String {
        var out = line
        for key in RcloneSettings.secretParameters {
            while let r = out.range(of: key + "=", options: .caseInsensitive),
                  out[r.upperBound...].first != "*" {
                let end = out[r.upperBound...].firstIndex { ",: \"'".contains($0) } ?? out.endIndex
                out.replaceSubrange(r.upperBound..<end, with: ConfigValue.hiddenSecret)
            }
        }
        return out
    }
}

/// The address rclone says it serves on, or why it never will: waited for once.
final class AddressGate: Sendable {
    private let state = Mutex<(result: Result<String, ProviderError>?, waiter: CheckedContinuation<String, any Error>?)>((nil, nil))

    func open(_ address: String) { settle(.success(address)) }
    func fail(_ error: ProviderError) { settle(.failure(error)) }

    private func settle(_ result: Result<String, ProviderError>) {
        let waiter = state.withLock { s -> CheckedContinuation<String, any Error>? in
            guard s.result == nil else { return nil }
            s.result = result
            let w = s.waiter
            s.waiter = nil
            return w
        }
        waiter?.resume(with: result.mapError { $0 as any Error })
    }

    func wait(seconds: Double, site: String) async throws -> String {
        let timer = Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            self?.fail(ProviderError(.unavailable, "site '\(site)': rclone rcd did not start serving within \(Int(seconds)) s"))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let known = state.withLock { s -> Result<String, ProviderError>? in
                if let r = s.result { return r }
                s.waiter = continuation
                return nil
            }
            if let known { continuation.resume(with: known.mapError { $0 as any Error }) }
        }
    }
}
