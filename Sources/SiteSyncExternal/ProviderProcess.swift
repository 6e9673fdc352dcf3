import Foundation
import Logging
import SiteSyncModel
import SiteSyncProviders
import Subprocess
import Synchronization
#if canImport(SystemPackage)
import SystemPackage
#endif

/// What a provider answered to one request.
enum ExternalAnswer: Sendable {
    /// `result`, possibly null (`stat`: nothing there).
    case result(ExternalResult?)
    case error(ExternalErrorBody)
}

/// One running provider program, speaking protocol 1 on its stdin and stdout; its stderr is its log.
///
/// One request at a time (the pool hands a process to one operation). Whatever goes wrong with the program — it
/// exits, it hangs past the site's `timeout`, it writes a line that is not the protocol — fails the operation in
/// flight with a line that says so, and the process is finished: a stream out of step cannot be trusted again.
final class ProviderProcess: Sendable {
    let site: String
    let hello: ExternalHello
    private let core: Core

    /// Starts the program and says hello. Throws a `ProviderError` naming the program and what it said.
    static func start(_ settings: ExternalSettings, redactor: Redactor, logger: Logger) async throws -> ProviderProcess {
        let core = Core(site: settings.site, timeout: settings.timeout, redactor: redactor, logger: logger)
        try await core.launch(settings)
        var request = ExternalRequest(id: 0, op: "hello")
        request.protocol = ExternalProtocol.version
        request.site = settings.site
        request.options = settings.options
        let answer: ExternalAnswer
        do {
            answer = try await core.call(request, progress: nil)
        } catch let e as ProviderError {
            core.stop()
            let said = e.message.replacingOccurrences(of: "site '\(settings.site)': the provider failed during hello: ", with: "")
            throw ProviderError(e.kind == .cancelled ? .cancelled : .unavailable,
                                "site '\(settings.site)': the provider `\(settings.shownCommand)` failed at its hello: \(said)")
        }
        switch answer {
        case .error(let body):
            core.stop()
            let e = body.providerError(site: settings.site, op: "hello", redact: redactor.redact)
            throw ProviderError(e.kind == .configuration ? .configuration : .unavailable, "\(e.message) (the provider refused to start)")
        case .result(nil):
            core.stop()
            throw ProviderError(.unavailable, "site '\(settings.site)': the provider `\(settings.shownCommand)` answered hello without a result; it must answer {\"id\": 0, \"result\": {\"protocol\": 1, …}}")
        case .result(let r?):
            guard let hello = r.hello else {
                core.stop()
                throw ProviderError(.unavailable, "site '\(settings.site)': the provider `\(settings.shownCommand)` answered hello without \"protocol\"; it must answer {\"id\": 0, \"result\": {\"protocol\": 1, …}}")
            }
            guard hello.protocol == ExternalProtocol.version else {
                core.stop()
                throw ProviderError(.configuration, "site '\(settings.site)': the provider `\(settings.shownCommand)` speaks protocol \(hello.protocol); this SiteSync speaks protocol \(ExternalProtocol.version) (docs/external-providers.md)")
            }
            core.learnSecrets(Set(hello.secretOptions), options: settings.options)
            if let hash = hello.capabilities.hash, !ExternalCapabilities.knownHashes.contains(hash) {
                core.stop()
                throw ProviderError(.configuration, "site '\(settings.site)': the provider declares hash '\(hash)'; SiteSync can check sha256, sha1 or md5 (or declare none and use verify_uploads: readback)")
            }
            return ProviderProcess(site: settings.site, hello: hello, core: core)
        }
    }

    private init(site: String, hello: ExternalHello, core: Core) {
        self.site = site
        self.hello = hello
        self.core = core
    }

    /// Sends one request and waits for its answer; `progress` hears the provider's progress lines.
    func call(_ request: ExternalRequest, progress: ProgressHandler?) async throws -> ExternalAnswer {
        try await core.call(request, progress: progress)
    }

    /// False once the program exited, hung or went out of step.
    var isUsable: Bool { core.isUsable }

    var pid: pid_t? { core.state.withLock { $0.pid } }

    /// Stopped because its operation was cancelled: no fault of the program's.
    var endedByCancellation: Bool { core.endedByCancellation }

    /// Closes the program's stdin (it should exit) and kills it if it is still there two seconds later.
    func stop() { core.stop() }

    deinit { core.stop() }
}

extension ProviderProcess {
    /// The state shared by the tasks that write requests, read answers and stderr, and watch for hangs.
    final class Core: Sendable {
        struct Pending {
            var id: Int
            var op: String
            var continuation: CheckedContinuation<ExternalAnswer, any Error>
            var progress: ProgressHandler?
        }
        struct State {
            var pending: Pending?
            var lastWord = ContinuousClock.now
            /// Why the process can no longer be used; nil while it can.
            var finished: String?
            /// It was stopped because an operation was cancelled, not because it failed.
            var cancelled = false
            var pid: pid_t?
            var stderrTail: [String] = []
            var stdin: AsyncStream<[UInt8]>.Continuation?
            var killer: AsyncStream<Void>.Continuation?
            var watchdog: Task<Void, Never>?
        }

        let site: String
        let timeout: Double
        let logger: Logger
        let state = Mutex(State())
        private let redactorBox: Mutex<Redactor>

        init(site: String, timeout: Double, redactor: Redactor, logger: Logger) {
            self.site = site
            self.timeout = timeout
            self.redactorBox = Mutex(redactor)
            self.logger = logger
        }

        var redactor: Redactor { redactorBox.withLock { $0 } }

        /// The keys the provider declared secret at its hello, hidden from then on as well.
        func learnSecrets(_ keys: Set<String>, options: [String: ConfigValue]) {
            guard !keys.isEmpty else { return }
            redactorBox.withLock { $0 = $0.adding(Redactor(options: options, secretKeys: keys)) }
        }

        var isUsable: Bool { state.withLock { $0.finished == nil } }
        var endedByCancellation: Bool { state.withLock { $0.cancelled } }

        func launch(_ settings: ExternalSettings) async throws {
            let (input, stdin) = AsyncStream<[UInt8]>.makeStream()
            let (kills, killer) = AsyncStream<Void>.makeStream()
            state.withLock {
                $0.stdin = stdin
                $0.killer = killer
            }
            let program = settings.command[0]
            let executable: Executable
            if program.contains("/") {
                let absolute = program.hasPrefix("/") ? program : FileManager.default.currentDirectoryPath + "/" + program
                guard FileManager.default.isExecutableFile(atPath: absolute) else {
                    if program.contains(" ") {
                        let words = program.split(separator: " ").joined(separator: ", ")
                        throw ProviderError(.configuration, "sites.\(site).command: `\(program)` is not a program; write the program and its arguments as a list: [\(words)]")
                    }
                    throw ProviderError(.configuration, "sites.\(site).command: \(absolute) is not an executable file; give the program's path (or its name on PATH) and make it executable, or start it through its interpreter: [python3, \(program)]")
                }
                executable = .path(FilePath(absolute))
            } else {
                executable = .name(program)
            }
            let configuration = Configuration(executable: executable, arguments: Arguments(Array(settings.command.dropFirst())))
            ChildProcesses.prepare()
            // Spawning is quick; waiting for it here keeps "cannot start the program" an error of this call.
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let started = StartGate(continuation)
                run(configuration, started: started, input: input, kills: kills, shownCommand: settings.shownCommand)
            }
            let watchdog = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    guard let self else { return }
                    if self.checkHung() { return }
                }
            }
            state.withLock { $0.watchdog = watchdog }
        }

        /// Runs the program until it ends: one task writes requests, one reads stderr, one waits for a kill, and
        /// stdout is read here. `started` is resumed once, when the program runs or could not be started.
        private func run(_ configuration: Configuration, started: StartGate,
                         input: AsyncStream<[UInt8]>, kills: AsyncStream<Void>, shownCommand: String) {
            Task.detached { [self] in
                do {
                    let outcome = try await Subprocess.run(configuration, input: .inputWriter, output: .sequence, error: .sequence) { execution in
                        ChildProcesses.started(execution.processIdentifier.value)
                        self.state.withLock { $0.pid = execution.processIdentifier.value }
                        started.take()?.resume()
                        await withTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for await line in input {
                                    do { _ = try await execution.standardInputWriter.write(line) } catch { break }
                                }
                                try? await execution.standardInputWriter.finish()
                            }
                            group.addTask {
                                for await _ in kills {
                                    try? execution.send(signal: .kill)
                                    break
                                }
                            }
                            group.addTask { [self] in
                                do {
                                    for try await line in execution.standardError.strings() { self.heardOnStderr(line) }
                                } catch {}
                            }
                            do {
                                for try await line in execution.standardOutput.strings(bufferingPolicy: .maxLineLength(1 << 20)) {
                                    self.heard(line)
                                }
                            } catch {
                                self.finish("it wrote a line longer than 1 MiB or that is not text", kill: true)
                            }
                            // stdout closed: the program is ending (or ended). Its stdin is closed in turn, and it is
                            // killed if it lingers, so the tasks above end.
                            self.closeInput(killAfter: 2)
                            await group.waitForAll()
                        }
                    }
                    ChildProcesses.ended(outcome.processIdentifier.value)
                    self.exited(outcome.terminationStatus)
                } catch {
                    if let waiting = started.take() {
                        let why = "\(error)".trimmingCharacters(in: CharacterSet(charactersIn: ". "))
                        waiting.resume(throwing: ProviderError(.configuration, "sites.\(self.site).command: cannot start `\(shownCommand)`: \(why); install the program or fix the path"))
                    } else {
                        self.finish("it could not be run: \(error)", kill: false)
                    }
                }
            }
        }

        /// Fails the operation in flight when the provider said nothing for `timeout` seconds. True once the
        /// process is finished (the watchdog can stop).
        func checkHung() -> Bool {
            let (hung, op, finished) = state.withLock { s -> (Bool, String?, Bool) in
                guard s.finished == nil else { return (false, nil, true) }
                guard let p = s.pending else { return (false, nil, false) }
                return (ContinuousClock.now - s.lastWord > .milliseconds(Int(timeout * 1000)), p.op, false)
            }
            if hung, let op {
                finish("it did not answer \(op) for \(Self.seconds(timeout)) s (the site's timeout): hung, so it was stopped", kill: true)
                return true
            }
            return finished
        }

        static func seconds(_ t: Double) -> String { t == t.rounded() ? String(Int(t)) : String(t) }

        func call(_ request: ExternalRequest, progress: ProgressHandler?) async throws -> ExternalAnswer {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var line = Array(try encoder.encode(request))
            line.append(UInt8(ascii: "\n"))
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let refused: String? = state.withLock { s in
                        if let why = s.finished { return why }
                        s.pending = Pending(id: request.id, op: request.op, continuation: continuation, progress: progress)
                        s.lastWord = .now
                        s.stdin?.yield(line)
                        return nil
                    }
                    if let refused {
                        let kind: ProviderError.Kind = Task.isCancelled ? .cancelled : .transient
                        continuation.resume(throwing: ProviderError(kind, "site '\(site)': the provider cannot take \(request.op): \(refused)"))
                    }
                }
            } onCancel: {
                // The only way to stop a provider's transfer half-way is to stop the provider.
                self.finish("the operation was cancelled", kill: true, as: .cancelled)
            }
        }

        /// A line on stdout: progress or the answer to the request in flight; anything else puts the stream out
        /// of step.
        func heard(_ raw: String) {
            let text = raw.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { return }
            let line: ExternalLine
            do {
                line = try JSONDecoder().decode(ExternalLine.self, from: Data(text.utf8))
            } catch let error as DecodingError where (try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil {
                finish("it wrote JSON that does not fit protocol 1 (\(Self.describe(error))): \(Self.quote(redactor.redact(text)))", kill: true)
                return
            } catch {
                finish("it wrote a line that is not protocol JSON: \(Self.quote(redactor.redact(text))) (stdout is for protocol lines only; a provider writes its log to stderr)", kill: true)
                return
            }
            let action: (() -> Void)? = state.withLock { s in
                guard let p = s.pending, line.id == p.id else { return nil }
                s.lastWord = .now
                if let bytes = line.progress, line.error == nil, !line.hasResult {
                    return p.progress.map { handler in { handler(bytes) } } ?? {}
                }
                s.pending = nil
                if let error = line.error { return { p.continuation.resume(returning: .error(error)) } }
                if line.hasResult { return { p.continuation.resume(returning: .result(line.result)) } }
                return { p.continuation.resume(throwing: ProviderError(.transient, "site '\(self.site)': the provider answered \(p.op) with neither result nor error")) }
            }
            if let action { action() } else {
                finish("it wrote a line for no request in flight (id \(line.id.map(String.init) ?? "missing")): \(Self.quote(redactor.redact(text)))", kill: true)
            }
        }

        /// Which field of a line was wrong, in words.
        static func describe(_ error: DecodingError) -> String {
            func path(_ c: DecodingError.Context) -> String {
                let p = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
                return p.isEmpty ? "the line" : "`\(p)`"
            }
            switch error {
            case .typeMismatch(let type, let c): return "\(path(c)) should be \(Self.name(of: type))"
            case .valueNotFound(let type, let c): return "\(path(c)) should be \(Self.name(of: type)), not null"
            case .keyNotFound(let key, let c): return "\(path(c)) lacks `\(key.stringValue)`"
            case .dataCorrupted(let c): return "\(path(c)): \(c.debugDescription)"
            @unknown default: return "\(error)"
            }
        }

        static func name(of type: Any.Type) -> String {
            switch type {
            case is Bool.Type: return "true or false"
            case is String.Type: return "text"
            case is Int.Type, is Int64.Type: return "a whole number"
            case is Double.Type: return "a number"
            case is [String].Type: return "a list of text"
            default: return "an object"
            }
        }

        static func quote(_ text: String) -> String {
            let cut = text.count > 200 ? String(text.prefix(200)) + "…" : text
            return "'\(cut)'"
        }

        func heardOnStderr(_ line: String) {
            let text = redactor.redact(line)
            guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { return }
            state.withLock { s in
                s.stderrTail.append(text)
                if s.stderrTail.count > 5 { s.stderrTail.removeFirst() }
            }
            logger.info("site \(site) provider: \(text)")
        }

        /// Finishes the process: the operation in flight fails with `why`, nothing more is sent.
        func finish(_ why: String, kill: Bool, as kind: ProviderError.Kind = .transient) {
            let (pending, tail, killer, watchdog) = state.withLock { s -> (Pending?, [String], AsyncStream<Void>.Continuation?, Task<Void, Never>?) in
                if s.finished == nil {
                    s.finished = why
                    s.cancelled = kind == .cancelled
                }
                let p = s.pending
                s.pending = nil
                s.stdin?.finish()
                return (p, s.stderrTail, s.killer, s.watchdog)
            }
            if kill { killer?.yield() }
            watchdog?.cancel()
            if let pending {
                let words = tail.isEmpty ? "" : "; its last words on stderr: \(tail.joined(separator: " | "))"
                pending.continuation.resume(throwing: ProviderError(kind, "site '\(site)': the provider failed during \(pending.op): \(why)\(words)"))
            }
        }

        func closeInput(killAfter seconds: Double) {
            let (stdin, killer) = state.withLock { ($0.stdin, $0.killer) }
            stdin?.finish()
            Task {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                killer?.yield()
                killer?.finish()
            }
        }

        func exited(_ status: TerminationStatus) {
            let how: String
            switch status {
            case .exited(let code): how = "it exited with status \(code)"
            case .signaled(let signal): how = "it was ended by signal \(signal)"
            }
            finish(how, kill: false)
            state.withLock { $0.killer?.finish() }
        }

        func stop() {
            let already = state.withLock { s -> Bool in
                let was = s.finished != nil
                if s.finished == nil { s.finished = "it was stopped" }
                return was
            }
            if !already { finish("it was stopped", kill: false) }
            closeInput(killAfter: 2)
        }
    }
}

/// Resumes the one who waits for the program to start, once.
final class StartGate: Sendable {
    private let waiting: Mutex<CheckedContinuation<Void, any Error>?>
    init(_ c: CheckedContinuation<Void, any Error>) { waiting = Mutex(c) }
    func take() -> CheckedContinuation<Void, any Error>? { waiting.withLock { $0.take() } }
}

/// Hides secret option values wherever the provider's words are repeated (log, errors).
struct Redactor: Sendable {
    let secrets: [String]

    init(options: [String: ConfigValue], secretKeys: Set<String>) {
        var found: [String] = []
        func walk(_ value: ConfigValue, key: String?) {
            switch value {
            case .map(let m): for (k, v) in m { walk(v, key: k) }
            case .list(let l): for v in l { walk(v, key: key) }
            default:
                if let key, ConfigValue.isSecretKey(key, among: secretKeys), let s = value.stringValue, s.count >= 3 {
                    found.append(s)
                    // A program may repeat it URL-encoded (in an address it prints).
                    if let encoded = s.addingPercentEncoding(withAllowedCharacters: .alphanumerics), encoded != s { found.append(encoded) }
                }
            }
        }
        walk(.map(options), key: nil)
        secrets = found.sorted { $0.count > $1.count }
    }

    private init(secrets: [String]) { self.secrets = secrets }

    func adding(_ other: Redactor) -> Redactor {
        Redactor(secrets: Array(Set(secrets + other.secrets)).sorted { $0.count > $1.count })
    }

    func redact(_ text: String) -> String {
        secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: ConfigValue.hiddenSecret) }
    }
}
