import Foundation
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

@Suite("Last published workfile and ensure")
struct WorkfileTests {
    static let settings = """
        sites:
          backup: {provider: local_drive, roots: {work: $DIR/backup}}
        projects:
          default:
            sitesync: {retry_count: 2, retry_backoff: 0.1, retry_backoff_max: 0.2, loop_delay: 60,
                       active_site: local, remote_site: studio}
          robots:
            roots: {work: $DIR/studio}
        """

    /// Versions 1–3 of a modeling workfile published at the studio, each made from a model and a texture.
    func publishHistory(_ studio: TestStudio) async throws -> (studioSide: SiteSync, v3: SiteSync.PublishResult, inputs: [SiteSync.PublishResult]) {
        let side = try studio.machine("studio-ws", active: "studio", remote: "studio")
        let model = try await side.publish(RepresentationContext(project: "robots", folder: "chars/anna", product: "modelMain",
                                                                  version: 1, name: "abc", task: "modeling"),
                                           files: [try studio.source("anna.abc", size: 50_000, seed: 11)])
        let tex = try await side.publish(RepresentationContext(project: "robots", folder: "chars/anna", product: "texture",
                                                                version: 1, name: "exr"),
                                         files: [try studio.source("anna.exr", size: 80_000, seed: 12)], inputs: [model.representation.id])
        var last: SiteSync.PublishResult?
        for v in 1...3 {
            last = try await side.publish(RepresentationContext(project: "robots", folder: "chars/anna", product: "workfileModeling",
                                                                 version: v, name: "ma", task: "modeling", host: "maya"),
                                          files: [try studio.source("v\(v)/anna_modeling.ma", size: 30_000 + v, seed: UInt64(20 + v))],
                                          inputs: [tex.representation.id])
        }
        return (side, try #require(last), [model, tex])
    }

    @Test("an empty work area gets the last published workfile as v004 with its inputs; a second call changes nothing")
    func createdThenExisting() async throws {
        let studio = try await TestStudio(settings: Self.settings)
        let (_, v3, inputs) = try await publishHistory(studio)
        let anna = try studio.machine("ws-anna")
        // No server is running: the command does the transfers itself.
        let result = try await anna.workfile(project: "robots", folder: "chars/anna", task: "modeling", host: nil, wait: 60)
        #expect(result.action == .created)
        #expect(result.version == 4)
        let expected = "\(studio.dir.path)/ws-anna/robots/chars/anna/work/modeling/anna_modeling_v004.ma"
        #expect(result.path == expected)
        #expect(result.published?.id == v3.representation.id)
        #expect(Set(result.inputs) == Set(inputs.map(\.representation.id)))
        let file = try #require(v3.files.first)
        #expect(try LocalFiles.digest(of: expected) == ContentDigest(size: file.size, sha256: file.sha256), "byte-identical to v003")
        for input in inputs { #expect(studio.verified(input, on: "ws-anna"), "input \(input.representation.context.product) verified here") }
        #expect(filesBelow("\(studio.dir.path)/ws-anna", where: LocalFiles.isTemporary).isEmpty)
        // Again: the existing file is reported, nothing changes.
        let before = filesBelow("\(studio.dir.path)/ws-anna")
        let again = try await anna.workfile(project: "robots", folder: "chars/anna", task: "modeling", host: nil, wait: 60)
        #expect(again.action == .existing && again.path == expected && again.version == 4)
        #expect(filesBelow("\(studio.dir.path)/ws-anna") == before)
        // A task with nothing published: none.
        let none = try await anna.workfile(project: "robots", folder: "chars/anna", task: "rigging", host: nil, wait: 5)
        #expect(none.action == .none && none.path == nil)
    }

    @Test("a running server does the transfers; the workfile command only waits for them")
    func withServer() async throws {
        let studio = try await TestStudio(settings: Self.settings)
        _ = try await publishHistory(studio)
        let anna = try studio.machine("ws-anna")
        let server = SyncServer(engine: try studio.machine("ws-anna"), options: ServerOptions())
        let running = Task { try await server.runUntilIdle() }
        defer { running.cancel() }
        try await Task.sleep(nanoseconds: 300_000_000)
        let started = Date()
        let result = try await anna.workfile(project: "robots", folder: "chars/anna", task: "modeling", host: "maya", wait: 60)
        #expect(result.action == .created)
        // It returned once the server's transfers were done, long before its 60 s wait ran out (a bound with room
        // for a machine loaded by the other suites running in parallel).
        #expect(Date().timeIntervalSince(started) < 30)
        running.cancel()
        let summary = try await running.value
        #expect(summary.moved.count == 3, "the running server moved the workfile and its two inputs: \(summary.moved.map(\.path))")
    }

    @Test("the studio unreachable: a timeout that says why, nothing half-written in the work area")
    func unreachable() async throws {
        let studio = try await TestStudio(settings: Self.settings)
        _ = try await publishHistory(studio)
        // The studio share is gone (unmounted).
        try FileManager.default.moveItem(atPath: "\(studio.dir.path)/studio", toPath: "\(studio.dir.path)/studio-away")
        let anna = try studio.machine("ws-anna")
        do {
            _ = try await anna.workfile(project: "robots", folder: "chars/anna", task: "modeling", host: nil, wait: 2)
            Issue.record("the workfile cannot be ready with the studio unreachable")
        } catch {
            #expect(ErrorKind.of(error) == .timedOut, "\(error)")
            #expect("\(error)".contains("studio") && "\(error)".contains("unavailable"), "\(error)")
        }
        #expect(filesBelow("\(studio.dir.path)/ws-anna").isEmpty, "\(filesBelow("\(studio.dir.path)/ws-anna"))")
    }

    @Test("ensure several representations, one failing: it is named, the others are synced")
    func ensureOneFailing() async throws {
        let studio = try await TestStudio(settings: Self.settings)
        let (_, v3, inputs) = try await publishHistory(studio)
        let anna = try studio.machine("ws-anna")
        // A plain file where the model's folder must go on this machine: its transfer cannot succeed.
        let model = try #require(inputs.first)
        let folder = ((studio.path(try #require(model.files.first), on: "ws-anna")) as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: (folder as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: folder))
        let report = try await anna.ensure([v3.representation.id, inputs[1].representation.id], wait: 60)
        #expect(report.failed.map(\.id) == [model.representation.id], "\(report.entries)")
        #expect(report.failed.first?.reason?.contains("Not a directory") == true, "\(report.failed)")
        #expect(report.entries.filter { $0.outcome == .synced }.count == 2)
        #expect(studio.verified(v3, on: "ws-anna") && studio.verified(inputs[1], on: "ws-anna"))
        #expect(report.ranTransfers)
    }
}
