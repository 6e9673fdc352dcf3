import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SiteSyncAPI
import SiteSyncEngine
import SiteSyncHTTP
import SiteSyncModel
import SiteSyncStandard

/// `--listen` and its tokens, shared by `server` and `web`.
struct ListenOptions: ParsableArguments {
    @Option(help: "Serve the HTTP API on HOST:PORT, e.g. 127.0.0.1:8484 (a non-loopback address needs tokens).")
    var listen: String?
    @Option(name: .customLong("token-file"),
            help: "A file with `full: TOKEN` and/or `read: TOKEN` lines (SITESYNC_API_TOKEN is the full token).")
    var tokenFile: String?

    /// The API as a service for the group, or nil without --listen. `progress`: the server running beside it.
    func service(_ engine: SiteSync, logger: Logger, metrics: APIMetrics,
                 progress: (@Sendable () -> ServerProgress)? = nil) throws -> (any Service)? {
        guard let listen else {
            if tokenFile != nil { throw SiteSyncError(.invalidInput, "--token-file goes with --listen HOST:PORT") }
            return nil
        }
        let tokens = try APITokens.load(file: tokenFile, environment: ProcessInfo.processInfo.environment)
        let (host, port) = try APIServer.listenAddress(listen, tokens: tokens)
        let api = APIServer(engine: engine, tokens: tokens, logger: logger, metrics: metrics, progress: progress)
        return api.application(host: host, port: port) { bound in
            let base = "http://\(host.contains(":") ? "[\(host)]" : host):\(bound)"
            logger.notice("Sync Queue on \(base)/ (API \(base)/api/v1, metrics \(base)/metrics)\(tokens.required ? "; tokens required" : "")")
        }
    }
}

struct WebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "web",
        abstract: "Serve the HTTP API (the Sync Queue) without transferring, until SIGINT/SIGTERM.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var listen: ListenOptions

    func run() async throws {
        try await reportingErrors {
            guard listen.listen != nil else { throw SiteSyncError(.invalidInput, "give --listen HOST:PORT, e.g. --listen 127.0.0.1:8484") }
            let metrics = APIMetrics()
            let engine = try global.open(logLevel: .info, metrics: metrics.sync)
            let logger = Logger(label: "sitesync")
            guard let api = try listen.service(engine, logger: logger, metrics: metrics) else { return }
            let group = ServiceGroup(configuration: .init(services: [api], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            do { try await group.run() } catch { throw APIServer.explain(error, listen: listen.listen) ?? error }
        }
    }
}

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server",
        abstract: "Run the sync server for this machine's active site (until SIGINT/SIGTERM, or --once).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("active-site"), help: "Act as this site (e.g. studio on the studio's sync machine).")
    var activeSite: String?
    @Option(name: .customLong("project"), help: "Only this project; repeatable.") var projects: [String] = []
    @Flag(help: "Exit once no runnable work remains; 1 if a file failed for good, 5 if a site with work was unavailable.")
    var once = false
    @Flag(help: "At the end, print what the run did as JSON.") var json = false
    @OptionGroup var listen: ListenOptions

    func run() async throws {
        try await reportingErrors {
            let metrics = APIMetrics()
            let engine = try global.open(logLevel: .info, metrics: metrics.sync)
            for project in projects { _ = try await engine.defaultProjectName(project) }
            if let activeSite { _ = try await engine.requireKnownSite(activeSite) }
            let server = SyncServer(engine: engine,
                                    options: ServerOptions(activeSite: activeSite, projects: projects.isEmpty ? nil : projects, once: once))
            let api = try listen.service(engine, logger: Logger(label: "sitesync"), metrics: metrics, progress: { server.progress })
            let logger = Logger(label: "sitesync")
            logger.info("server \(server.owner) started as site \(activeSite.map { $0 == "local" ? engine.siteID : $0 } ?? "(each project's active site)")")
            let box = SummaryBox()
            let service = SummaryService(server: server, box: box)
            let group = ServiceGroup(configuration: .init(
                // The API (with --listen) runs beside the sync work: one group, one graceful shutdown.
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)]
                    + (api.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
            let display = isatty(2) == 1 ? ProgressLine.start(server) : nil
            defer { display?.cancel() }
            do { try await group.run() } catch { throw APIServer.explain(error, listen: listen.listen) ?? error }
            if let display {
                display.cancel()
                await display.value
                ProgressLine.clear()
            }
            guard let summary = await box.summary else { return }
            if json {
                print(try APIJSON.encode(RunSummaryJSON(summary)))
            } else {
                var adopted = summary.adopted.isEmpty ? "" : "; \(summary.adopted.count) already in place (recorded, not copied)"
                if !summary.deduplicated.isEmpty {
                    let saved = summary.deduplicated.reduce(Int64(0)) { $0 + $1.size }
                    adopted += "; \(summary.deduplicated.count) made from identical files already on the target (\(ByteCount.format(saved)) not sent)"
                }
                print("moved \(summary.moved.count) file(s), \(ByteCount.format(summary.bytes)) in \(String(format: "%.2f", summary.elapsed)) s\(adopted); \(summary.failed.count) failed")
                for line in summary.conflicts { print("moved aside (a different file was in the way): \(line)") }
                for line in summary.damaged { print("damaged copy found: \(line)") }
                for line in summary.failed { print("failed: \(line)") }
                for (site, why) in summary.unavailable.sorted(by: { $0.key < $1.key }) { print("unavailable: \(site): \(why)") }
            }
            if once && !summary.failed.isEmpty { throw ExitCode(ErrorKind.internal.exitCode) }
            if once && !summary.unavailable.isEmpty { throw ExitCode(ErrorKind.unavailable.exitCode) }
        }
    }
}

actor SummaryBox {
    var summary: RunSummary?
    func set(_ s: RunSummary) { summary = s }
}

/// Runs the server under the service group and keeps its summary for the exit code.
struct SummaryService: Service {
    let server: SyncServer
    let box: SummaryBox
    func run() async throws {
        await box.set(try await server.runUntilIdle())
    }
}

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo",
        abstract: "Sync a throw-away studio in a temporary folder and show the result.")
    @Option(help: "Use this folder instead of a new temporary one.") var directory: String?
    @Flag(help: "Keep the folder afterwards.") var keep = false

    func run() async throws {
        try await reportingErrors {
            CLILogging.bootstrap(.warning)
            let dir = directory ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("sitesync-demo-\(UUID().uuidString.prefix(8))").path
            let ok = try await Demo.run(in: dir) { print($0) }
            if !keep && directory == nil { try? FileManager.default.removeItem(atPath: dir) }
            if keep || directory != nil { print("demo studio kept in \(dir)") }
            if !ok { throw ExitCode(1) }
        }
    }
}

/// The one-line progress display on a terminal, drawn from the server's progress values.
enum ProgressLine {
    static func start(_ server: SyncServer) -> Task<Void, Never> {
        Task.detached {
            while !Task.isCancelled {
                draw(server.progress)
                try? await Task.sleep(nanoseconds: 200_000_000)
            }
        }
    }

    static func draw(_ p: ServerProgress) {
        let line = "\r\u{1B}[K[sitesync] \(p.running.count) running, \(p.synced) synced (\(ByteCount.format(p.bytes))), \(p.failed) failed"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func clear() {
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
