import Foundation
import Testing

/// The engine knows catalogs and providers by their protocols only: a new backend never edits it.
@Suite("Module boundaries")
struct ModuleBoundaryTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func sources(_ module: String) throws -> [(String, String)] {
        let dir = Self.root.appendingPathComponent("Sources/\(module)")
        let files = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        #expect(!files.isEmpty, "no sources found under \(dir.path)")
        return try files.map { ($0, try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)) }
    }

    @Test("the engine imports no concrete catalog or provider and compares no provider names")
    func engineIsProtocolsOnly() throws {
        let concrete = ["SiteSyncCatalogSQLite", "SiteSyncLocalDrive", "SiteSyncSFTP", "SiteSyncGoogleDrive", "GRDB", "CLibSSH",
                        "AsyncHTTPClient", "SiteSyncStandard"]
        for (file, text) in try sources("SiteSyncEngine") {
            for module in concrete {
                #expect(!text.contains("import \(module)\n"), "\(file) imports \(module)")
            }
            for name in ["\"local_drive\"", "\"sftp\"", "\"gdrive\"", ".localDrive", "provider =="] {
                #expect(!text.contains(name), "\(file) mentions \(name)")
            }
        }
    }

    @Test("transfer states reach SQL through the enum, never as string literals")
    func statesThroughTheEnum() throws {
        for (file, text) in try sources("SiteSyncCatalogSQLite") {
            for state in ["'queued'", "'synced'", "'in_progress'", "'paused'", "'failed'"] {
                #expect(!text.contains(state), "\(file) writes \(state) in SQL")
            }
        }
    }
}
