import ArgumentParser
import Foundation
import Logging
import SiteSyncAPI
import SiteSyncEngine
import SiteSyncModel
import SiteSyncStandard

@main
struct SiteSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sitesync",
        abstract: "Keeps published files in sync between sites: workstations, the studio disk, SFTP, cloud.",
        discussion: """
            The catalog is \(CatalogLocation.redacted(SiteSyncEnvironment.fromProcess().catalogLocation)) unless --catalog \
            or SITESYNC_CATALOG says otherwise; this machine's settings are in SITESYNC_LOCAL_SETTINGS or \
            ~/.config/sitesync/local.yaml.
            Exit codes: 0 done; 1 failed (a file ran out of tries, an internal error); 2 invalid input or settings; \
            3 not found; 4 conflict (already published, last copy); 5 unavailable (a site or the catalog cannot be \
            reached now); 6 timed out (ensure/workfile --wait); 64 the command line itself is malformed.
            """,
        version: SiteSyncVersion.current,
        subcommands: [
            InitCommand.self, SettingsCommand.self, SiteCommand.self, LocalCommand.self, ProjectCommand.self,
            PublishCommand.self, AddSiteCommand.self, DownloadCommand.self, RemoveSiteCommand.self, ResetCommand.self,
            PriorityCommand.self, PauseCommand.self, ResumeCommand.self, StatusCommand.self, ShowCommand.self, VerifyCommand.self, EnsureCommand.self, WorkfileCommand.self,
            ServerCommand.self, WebCommand.self, CatalogCommand.self, DemoCommand.self,
        ])

    /// ArgumentParser's own `main`, with what the README promises: a malformed command line is one line on stderr
    /// (exit 64) naming the command's help, and a negative number is a number (`priority ID -5`), not an option.
    static func main() async {
        await runCommandLine(Array(CommandLine.arguments.dropFirst()))
    }

    nonisolated static func runCommandLine(_ given: [String]) async {
        do {
            var command: any ParsableCommand
            do {
                command = try parseAsRoot(given)
            } catch where given.contains(where: CommandLineNumbers.isNegative) {
                guard let again = try? parseAsRoot(CommandLineNumbers.rewriting(given)) else { throw error }
                command = again
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            // The command has said what went wrong (reportingErrors).
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            // --help and --version print in full.
            if code == .success { exit(withError: error) }
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            let command = (["sitesync"] + CommandLineNumbers.subcommandPath(given, in: self)).joined(separator: " ")
            FileHandle.standardError.write(Data("sitesync: error: \(message) (see `\(command) --help`)\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }
}

/// Negative numbers on a command line (ArgumentParser takes `-5` for an option).
enum CommandLineNumbers {
    static func isNegative(_ argument: String) -> Bool {
        argument.count > 1 && argument.hasPrefix("-") && Double(argument) != nil
    }

    /// `--version -1` → `--version=-1`; a negative positional (`priority ID -5`) moves after `--` at the end, where
    /// ArgumentParser reads it as a value. Used only when the command line did not parse as given.
    static func rewriting(_ arguments: [String]) -> [String] {
        guard !arguments.contains("--") else { return arguments }
        var out: [String] = []
        var positional: [String] = []
        for argument in arguments {
            if isNegative(argument) {
                if let last = out.last, last.hasPrefix("--"), !last.contains("=") {
                    out[out.count - 1] = last + "=" + argument
                } else {
                    positional.append(argument)
                }
            } else {
                out.append(argument)
            }
        }
        return positional.isEmpty ? out : out + ["--"] + positional
    }

    /// The subcommand names at the start of the command line (`site check`), for the help hint.
    static func subcommandPath(_ arguments: [String], in root: any ParsableCommand.Type) -> [String] {
        var path: [String] = []
        var current = root
        for argument in arguments where !argument.hasPrefix("-") {
            guard let next = current.configuration.subcommands.first(where: { $0._commandName == argument }) else { break }
            path.append(argument)
            current = next
        }
        return path
    }
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The catalog: a file (or sqlite:PATH) or a postgres://user@host/db URL; default SITESYNC_CATALOG or ~/.local/share/sitesync/catalog.sqlite.")
    var catalog: String?

    @Option(name: .customLong("local-settings"), help: "This machine's settings file (default: SITESYNC_LOCAL_SETTINGS or ~/.config/sitesync/local.yaml).")
    var localSettings: String?

    @Flag(name: .shortAndLong, help: "Log more.")
    var verbose = false

    var environment: SiteSyncEnvironment {
        SiteSyncEnvironment.fromProcess(catalog: catalog, localSettings: localSettings)
    }

    func open(create: Bool = false, logLevel: Logger.Level = .warning, metrics: SyncMetrics = SyncMetrics()) throws -> SiteSync {
        CLILogging.bootstrap(verbose ? .debug : logLevel)
        return try SiteSyncStandard.open(environment, create: create, logger: Logger(label: "sitesync"), metrics: metrics)
    }
}

/// Every command's errors end as one line on stderr (one per problem in a settings file) and the exit code of
/// the error's kind.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch let error as CleanExit {
        throw error
    } catch {
        FileHandle.standardError.write(Data("sitesync: error: \(error)\n".utf8))
        throw ExitCode(ErrorKind.of(error).exitCode)
    }
}

/// Prints one of the shared API values as JSON.
func printJSON<T: Encodable>(_ value: T) throws {
    print(try APIJSON.encode(value))
}

/// `NAME=PATH` pairs of --root.
func parseRoots(_ values: [String]) throws -> [String: String] {
    var roots: [String: String] = [:]
    for value in values {
        guard let eq = value.firstIndex(of: "="), eq != value.startIndex else {
            throw SiteSyncError(.invalidInput, "--root \(value): write it as NAME=PATH, e.g. --root work=/mnt/projects")
        }
        let name = String(value[..<eq])
        guard roots[name] == nil else {
            throw SiteSyncError(.invalidInput, "--root \(name) is given twice; give each root once")
        }
        roots[name] = String(value[value.index(after: eq)...])
    }
    return roots
}

/// Log lines on stderr: `2026-11-25T10:00:00Z info: message`.
enum CLILogging {
    nonisolated(unsafe) static var bootstrapped = false

    static func bootstrap(_ level: Logger.Level) {
        guard !bootstrapped else { return }
        bootstrapped = true
        let envLevel = ProcessInfo.processInfo.environment["SITESYNC_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
        LoggingSystem.bootstrap { label in
            var handler = StderrLogHandler()
            handler.logLevel = envLevel ?? level
            return handler
        }
    }
}

struct StderrLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(Self.clear)\(Self.stamps.now()) \(event.level): \(event.message)\n"
        // One write(2) of the whole line: lines from several threads never interleave, and no Data is made.
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(2, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                if n > 0 { offset += n } else if n < 0, errno == EINTR { continue } else { break }
            }
        }
    }

    /// The time stamp is made once a second: a server logs a line per file, and Foundation's ISO 8601 style
    /// made per line was a few per cent of a server's CPU on thousands of small files.
    static let stamps = TimeStamps()

    final class TimeStamps: @unchecked Sendable {
        private let lock = NSLock()
        private var second = Int.min
        private var text = ""

        /// `2026-11-25T10:00:00Z` (UTC).
        func now() -> String {
            var spec = timespec()
            clock_gettime(CLOCK_REALTIME, &spec)
            let now = Int(spec.tv_sec)
            return lock.withLock {
                if now != second {
                    second = now
                    text = Self.format(now)
                }
                return text
            }
        }

        static func format(_ seconds: Int) -> String {
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
            return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
        }
    }

    /// Clears a progress line a terminal may be showing. Asked once: a server logs a line per file.
    static let clear = isatty(2) == 1 ? "\r\u{1B}[K" : ""
}
