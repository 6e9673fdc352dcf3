import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SiteSyncAPI
import SiteSyncEngine
import SiteSyncModel
import SiteSyncStandard

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

    func run() async throws {
        try await reportingErrors {
            let engine = try global.open(logLevel: .info)
            for project in projects { _ = try await engine.defaultProjectName(project) }
            if let activeSite { _ = try await engine.requireKnownSite(activeSite) }
            let server = SyncServer(engine: engine,
                                    options: ServerOptions(activeSite: activeSite, projects: projects.isEmpty ? nil : projects, once: once))
            let logger = Logger(label: "sitesync")
            logger.info("server \(server.owner) started as site \(activeSite.map { $0 == "local" ? engine.siteID : $0 } ?? "(each project's active site)")")
            let box = SummaryBox()
            let service = SummaryService(server: server, box: box)
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
            let display = isatty(2) == 1 ? ProgressLine.start(server) : nil
            defer { display?.cancel() }
            try await group.run()
            if let display {
                display.cancel()
                await display.value
                ProgressLine.clear()
            }
            guard let summary = await box.summary else { return }
            if json {
                print(try APIJSON.encode(RunSummaryJSON(summary)))
            } else {
                let adopted = summary.adopted.isEmpty ? "" : "; \(summary.adopted.count) already in place (recorded, not copied)"
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
