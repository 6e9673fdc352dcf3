import Foundation
import Logging
import ServiceLifecycle
import SiteSyncAPI
import SiteSyncEngine
import SiteSyncLocalDrive
import SiteSyncProviders
import SiteSyncStandard
import SiteSyncTestSupport

/// `sitesync-soak`: the sync server (`--once`) with every built-in provider plus `faulty` (a Local Drive whose
/// calls fail a share of the time), for the soak test, which kills it with SIGKILL mid-run. Test support only:
/// the `sitesync` binary never has the `faulty` provider. Prints the run summary and the faults injected as JSON.
/// `--active-site SITE` acts as that site; `--forever` runs until SIGTERM instead of until idle (the studio
/// catalog scenarios run several such servers against one PostgreSQL).
@main
struct SoakServer {
    static var registry: ProviderRegistry {
        ProviderRegistry(StandardProviders.all + [FaultyProvider.description(wrapping: LocalDriveProvider.description)])
    }

    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["SITESYNC_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
            return handler
        }
        do {
            let environment = SiteSyncEnvironment.fromProcess()
            let catalog = try StandardCatalogs.open(environment.catalogLocation, create: false)
            let engine = try SiteSync(catalog: catalog, environment: environment, registry: registry)
            let arguments = CommandLine.arguments
            let activeSite = arguments.firstIndex(of: "--active-site").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
            let forever = arguments.contains("--forever")
            let server = SyncServer(engine: engine, options: ServerOptions(activeSite: activeSite, once: !forever))
            if forever {
                let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint],
                                                              logger: Logger(label: "sitesync-soak")))
                try await group.run()
                exit(0)
            }
            let summary = try await server.runUntilIdle()
            print(try APIJSON.encode(RunSummaryJSON(summary), pretty: false))
            exit(summary.failed.isEmpty ? 0 : 1)
        } catch {
            FileHandle.standardError.write(Data("sitesync-soak: error: \(error)\n".utf8))
            exit(2)
        }
    }
}
