import Foundation
import SiteSyncEngine
import SiteSyncModel
import SiteSyncProviders
import SiteSyncStandard
import SiteSyncTestSupport
import Testing

@Suite("Verify and heal: Local Drive")
struct LocalVerifyTests {
    @Test("deleted and corrupted copies are found, marked, healed from backup; a download from a rotten copy heals too")
    func localDrive() async throws {
        let dir = try TemporaryDirectory("verify")
        for sub in ["nas", "backup"] { _ = try dir.sub(sub) }
        let settings = """
            sites:
              nas: {provider: local_drive, roots: {work: \(dir.path)/nas}}
              backup: {provider: local_drive, roots: {work: \(dir.path)/backup}}
            projects:
              default: {sitesync: {active_site: local, remote_site: nas, always_accessible_on: [backup], retry_backoff: 0.2}}
              robots: {roots: {work: \(dir.path)/studio}}
            """
        let machine = try await VerifyScenario.machines(in: dir.path, settings: settings) { try SiteSyncStandard.open($0, create: $1) }
        @Sendable func onNAS(_ rootless: String) -> String { RootlessPath.join("\(dir.path)/nas", RootlessPath.split(rootless)!.relative) }
        try await VerifyScenario.run(DamageFixture(
            site: "nas", scratch: try dir.sub("src"),
            machine: machine,
            delete: { try FileManager.default.removeItem(atPath: onNAS($0)) },
            corrupt: { path, size in try TemporaryDirectory.bytes(size: Int(size), seed: 999).write(to: URL(fileURLWithPath: onNAS(path))) },
            digest: { try? LocalFiles.digest(of: onNAS($0)) }))
    }
}
