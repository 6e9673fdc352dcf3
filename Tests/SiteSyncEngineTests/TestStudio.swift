import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncStandard
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

/// A throw-away studio: one catalog, folders for every site, and a `SiteSync` per machine.
final class TestStudio: @unchecked Sendable {
    let dir: TemporaryDirectory
    let catalogPath: String
    let leaseSeconds: Double

    /// `settings` may use `$DIR` for the studio's folder.
    init(settings: String, leaseSeconds: Double = 30) async throws {
        dir = try TemporaryDirectory("engine")
        catalogPath = "\(dir.path)/catalog.sqlite"
        self.leaseSeconds = leaseSeconds
        let admin = try machine("ws-admin", create: true)
        try await admin.importSettings(yaml: settings.replacingOccurrences(of: "$DIR", with: dir.path), source: "test settings")
    }

    /// Settings most tests use: studio, backup (always accessible), a vendor alternate of studio.
    static let standard = """
        sites:
          backup: {provider: local_drive, roots: {work: $DIR/backup}}
          vendor: {provider: local_drive, roots: {work: $DIR/studio}, alternative_sites: [studio]}
        projects:
          default:
            sitesync: {retry_count: 3, retry_backoff: 0.2, retry_backoff_max: 1, loop_delay: 60,
                       active_site: local, remote_site: studio, always_accessible_on: [backup]}
          robots:
            roots: {work: $DIR/studio}
        """

    /// The engine as machine `id` sees it; its own site's root is `$DIR/<id>`.
    func machine(_ id: String, create: Bool = false, active: String? = nil, remote: String? = nil,
                 scrubInterval: TimeInterval = 60, siteCheckTimeout: TimeInterval = 60) throws -> SiteSync {
        let env = SiteSyncEnvironment(catalogLocation: catalogPath, localSettingsPath: "\(dir.path)/\(id).yaml",
                                      siteIDOverride: id, leaseDuration: leaseSeconds, pollInterval: 0.05,
                                      scrubInterval: scrubInterval, siteCheckTimeout: siteCheckTimeout)
        for sub in ["studio", "backup", id] { _ = try dir.sub(sub) }
        let engine = try SiteSyncStandard.open(env, create: create)
        _ = try engine.setLocal(project: nil, roots: ["work": "\(dir.path)/\(id)"], activeSite: active, remoteSite: remote)
        return engine
    }

    func source(_ name: String, size: Int = 10_000, seed: UInt64 = 1) throws -> String {
        try dir.file("sources/\(name)", size: size, seed: seed)
    }

    func publish(_ engine: SiteSync, version: Int = 1, product: String = "model", files: [String],
                 priority: Int = 50, inputs: [String] = []) async throws -> SiteSync.PublishResult {
        try await engine.publish(RepresentationContext(project: "robots", folder: "chars/anna", product: product,
                                                       version: version, name: "ma"),
                                 files: files, inputs: inputs, priority: priority)
    }

    /// The path of a catalog file on a site folder of this studio.
    func path(_ file: FileRecord, on siteFolder: String) -> String {
        RootlessPath.join("\(dir.path)/\(siteFolder)", RootlessPath.split(file.path)!.relative)
    }

    func digest(_ path: String) -> ContentDigest? {
        try? LocalFiles.digest(of: path)
    }

    /// Every file of the representation is on the site folder with its catalog hash.
    func verified(_ result: SiteSync.PublishResult, on siteFolder: String) -> Bool {
        result.files.allSatisfy { digest(path($0, on: siteFolder)) == ContentDigest(size: $0.size, sha256: $0.sha256) }
    }

    func statuses(_ engine: SiteSync, _ id: String, site: String) async throws -> [FileSyncStatus] {
        try await engine.show(id).states.filter { $0.site == site }.map(\.status)
    }

    func once(_ engine: SiteSync, active: String? = nil) async throws -> RunSummary {
        try await SyncServer(engine: engine, options: ServerOptions(activeSite: active, once: true)).runUntilIdle()
    }
}
