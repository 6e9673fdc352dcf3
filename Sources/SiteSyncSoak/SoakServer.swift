import Foundation
import Logging
import SiteSyncAPI
import SiteSyncEngine
import SiteSyncLocalDrive
import SiteSyncProviders
import SiteSyncStandard
import SiteSyncTestSupport

/// `sitesync-soak`: the sync server (`--once`) with every built-in provider plus `faulty` (a Local Drive whose
/// calls fail a share of the time), for the soak test, which kills it with SIGKILL mid-run. Test support only:
/// the `sitesync` binary never has the `faulty` provider. Prints the run summary and the faults injected as JSON.
@main
struct SoakServer {
    static var registry: ProviderRegistry {
        ProviderRegistry(StandardProviders.all + [FaultyProvider.description(wrapping: LocalDriveProvider.description)])
    }

    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        do {
            let environment = SiteSyncEnvironment.fromProcess()
            let catalog = try StandardCatalogs.open(environment.catalogLocation, create: false)
            let engine = try SiteSync(catalog: catalog, environment: environment, registry: registry)
            let summary = try await SyncServer(engine: engine, options: ServerOptions(once: true)).runUntilIdle()
            print(try APIJSON.encode(RunSummaryJSON(summary), pretty: false))
            exit(summary.failed.isEmpty ? 0 : 1)
        } catch {
            FileHandle.standardError.write(Data("sitesync-soak: error: \(error)\n".utf8))
            exit(2)
        }
    }
}
