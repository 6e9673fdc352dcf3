import Foundation
import SiteSyncProviders
import SiteSyncTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

func isUUID(_ s: String?) -> Bool {
    guard let s else { return false }
    return s.wholeMatch(of: /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/) != nil
}

@Suite("CLI end to end (the built binary)")
struct CLITests {
    static func studioYAML(_ dir: String, extraBackup: String = "") -> String {
        """
        enabled: true
        sites:
          backup:
            provider: local_drive
            roots: {work: \(dir)/backup}\(extraBackup)
          vendor:
            provider: local_drive
            roots: {work: \(dir)/studio}
            alternative_sites: [studio]
        projects:
          default:
            sitesync: {enabled: true, retry_count: 3, loop_delay: 60, active_site: studio, remote_site: studio,
                       always_accessible_on: [backup], retry_backoff: 0.2}
          robots:
            roots: {work: {linux: \(dir)/studio, windows: "P:/projects"}}
            sitesync: {remote_site: studio}
        """
    }

    /// A studio on disk: catalog initialised, settings imported, an artist machine configured.
    static func setUp(_ dir: TemporaryDirectory, extraBackup: String = "", lease: String? = nil) async throws -> (admin: CLI, anna: CLI) {
        for sub in ["studio", "backup"] { _ = try dir.sub(sub) }
        let extra = lease.map { ["SITESYNC_LEASE_SECONDS": $0] } ?? [:]
        let admin = CLI(dir: dir, siteID: "ws-admin", extra: extra)
        try await admin.run("init")
        try studioYAML(dir.path, extraBackup: extraBackup).write(toFile: "\(dir.path)/studio.yaml", atomically: true, encoding: .utf8)
        try await admin.run("settings", "import", "\(dir.path)/studio.yaml")
        let anna = CLI(dir: dir, siteID: "ws-anna", extra: extra)
        try await anna.run("local", "set", "--root", "work=\(dir.path)/anna")
        try await anna.run("local", "set", "--project", "robots", "--active-site", "local", "--remote-site", "studio")
        return (admin, anna)
    }

    @Test("--help works for every command")
    func help() async throws {
        let dir = try TemporaryDirectory("cli")
        let cli = CLI(dir: dir, siteID: "ws-x")
        let top = try await cli.run("--help")
        #expect(top.stdout.contains("publish") && top.stdout.contains("server"))
        for command in [["init"], ["settings", "import"], ["settings", "export"], ["settings", "show"], ["site", "list"],
                        ["site", "id"], ["site", "check"], ["local", "show"], ["local", "set"], ["project", "add"],
                        ["project", "list"], ["project", "enable"], ["project", "disable"], ["publish"], ["add-site"],
                        ["download"], ["remove-site"], ["reset"], ["priority"], ["pause"], ["resume"], ["status"],
                        ["show"], ["server"], ["catalog", "check"], ["catalog", "copy"], ["demo"]] {
            let result = try await cli.run(command + ["--help"])
            #expect(result.stdout.contains("USAGE"), "\(command)")
        }
    }

    @Test("the command line as a new user types it: --version, negative numbers, id prefixes, one-line argument errors, status pages")
    func commandLine() async throws {
        let dir = try TemporaryDirectory("cli")
        let (admin, anna) = try await Self.setUp(dir)
        #expect(try await admin.run("--version").stdout.trimmingCharacters(in: .whitespacesAndNewlines).first?.isNumber == true)
        var ids: [String] = []
        for (i, folder) in ["chars/anna", "chars/bob", "shots/sh010"].enumerated() {
            let file = try dir.file("src/f\(i).ma", size: 100 * (i + 1), seed: UInt64(i + 1))
            let out = try await anna.run("publish", "--project", "robots", "--folder", folder, "--product", "modelMain",
                                         "--version", "1", "--name", "ma", file)
            ids.append(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        // A negative priority is a number, and 8 characters of an id name it.
        let short = String(ids[0].prefix(8))
        #expect(try await anna.run("priority", short, "-5").stdout.contains("is -5"))
        let shown = try await anna.run("show", short, "--json")
        #expect(shown.stdout.contains(ids[0]) && shown.stdout.contains("\"priority\" : -5"))
        var r = try await anna.run(["show", String(ids[0].prefix(4))], expect: 2)
        #expect(r.stderr.contains("at least 8 characters"))
        r = try await anna.run(["publish", "--project", "robots", "--folder", "x", "--product", "p", "--version", "-1", "--name", "n",
                                "/etc/hostname"], expect: 2)
        #expect(r.stderr.contains("version") && !r.stderr.contains("Missing"), "\(r.stderr)")
        // Argument errors: one line, naming the command's help, exit 64.
        r = try await anna.run(["status", "--limit"], expect: 64)
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("see `sitesync status --help`"), "\(r.stderr)")
        // Pages, filters and sorting, as the HTTP API will answer them.
        let page = try await anna.json("status", "--project", "robots", "--page", "2", "--page-size", "2", "--json")
        #expect(page["total"] as? Int == 3 && page["page"] as? Int == 2 && page["page_size"] as? Int == 2)
        #expect((page["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[2]])
        let found = try await anna.json("status", "--project", "robots", "--search", "BOB", "--json")
        #expect((found["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[1]])
        let bySize = try await anna.json("status", "--project", "robots", "--sort", "size", "--order", "desc", "--json")
        #expect((bySize["items"] as? [[String: Any]])?.map { $0["id"] as? String } == ids.reversed())
        let queued = try await anna.json("status", "--project", "robots", "--site", "backup", "--status", "queued", "--json")
        #expect(queued["total"] as? Int == 3)
        let zero = (((queued["items"] as? [[String: Any]])?.first?["sites"] as? [String: Any])?["backup"] as? [String: Any])?["files"] as? [String: Int]
        #expect(zero?["failed"] == 0 && zero?["synced"] == 0, "every state is counted, zeros too")
        r = try await anna.run(["status", "--status", "failed"], expect: 2)
        #expect(r.stderr.contains("needs a site"))
    }

    @Test("errors are one clear line on stderr, with the exit code of their kind")
    func errors() async throws {
        let dir = try TemporaryDirectory("cli")
        let cli = CLI(dir: dir, siteID: "ws-x")
        // 3: not found.
        var r = try await cli.run(["status"], expect: 3)
        #expect(r.stderr.contains("no catalog at") && r.stderr.contains("sitesync init"))
        #expect(r.stderr.split(separator: "\n").count == 1)
        try await cli.run("init")
        // 2: invalid input.
        try "sites: {nas: {roots: {work: /x}}}\n".write(toFile: "\(dir.path)/bad.yaml", atomically: true, encoding: .utf8)
        r = try await cli.run(["settings", "import", "\(dir.path)/bad.yaml"], expect: 2)
        #expect(r.stderr.contains("sites.nas") && r.stderr.contains("provider"))
        r = try await cli.run(["settings", "import", "\(dir.path)/missing.yaml"], expect: 3)
        #expect(r.stderr.contains("does not exist"))
        r = try await cli.run(["settings", "import", dir.path], expect: 2)
        #expect(r.stderr.contains("is a folder"))
        r = try await cli.run(["show", "nope"], expect: 3)
        #expect(r.stderr.contains("no representation 'nope'"))
        r = try await cli.run(["project", "add", "p", "--root", "work"], expect: 2)
        #expect(r.stderr.contains("NAME=PATH"))
        r = try await cli.run(["publish", "--project", "ghost", "--folder", "a", "--product", "b", "--version", "1", "--name", "c", "/etc/hostname"], expect: 3)
        #expect(r.stderr.contains("project 'ghost' does not exist"))
        r = try await cli.run(["settings", "show", "--project", "nope"], expect: 3)
        #expect(r.stderr.contains("project 'nope' does not exist"))
        try await cli.run(["status", "--project", "nope"], expect: 3)
        r = try await cli.run(["local", "set", "--active-site", "nowhere"], expect: 2)
        #expect(r.stderr.contains("not saved") && r.stderr.contains("nowhere"), "\(r.stderr)")
        try await cli.run(["project", "add", "q", "--root", "work=/a", "--root", "work=/b"], expect: 2)
        // A hand-edited local settings file with a relative root is named, not used.
        try "site_id: ws-x\ndefault: {roots: {work: reldir}}\n".write(toFile: "\(dir.path)/ws-x.local.yaml", atomically: true, encoding: .utf8)
        r = try await cli.run(["settings", "show"], expect: 2)
        #expect(r.stderr.contains("default.roots.work") && r.stderr.contains("not an absolute path"), "\(r.stderr)")
        try FileManager.default.removeItem(atPath: "\(dir.path)/ws-x.local.yaml")
        // 64: the command line itself (ArgumentParser).
        try await cli.run(["publish", "--no-such-flag"], expect: 64)
        // 4: conflict.
        try await cli.run("project", "add", "p", "--root", "work=\(dir.path)/p")
        r = try await cli.run(["project", "add", "p", "--root", "work=\(dir.path)/p"], expect: 4)
        #expect(r.stderr.contains("already exists"))
        // 5: unavailable (the active site's root is missing: an unmounted share).
        try "x".write(toFile: "\(dir.path)/f.txt", atomically: true, encoding: .utf8)
        r = try await cli.run(["publish", "--project", "p", "--folder", "a", "--product", "b", "--version", "1", "--name", "c", "\(dir.path)/f.txt"], expect: 5)
        #expect(r.stderr.contains("does not exist or is not a folder"))
    }

    @Test("a bad settings file is refused whole; the catalog keeps its settings; re-import keeps what the CLI added")
    func importRefusals() async throws {
        let dir = try TemporaryDirectory("cli")
        let (admin, _) = try await Self.setUp(dir)
        let before = try await admin.run("settings", "export").stdout
        func refuse(_ yaml: String, _ fragment: String, code: Int32 = 2, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try yaml.write(toFile: "\(dir.path)/bad.yaml", atomically: true, encoding: .utf8)
            let r = try await admin.run(["settings", "import", "\(dir.path)/bad.yaml"], expect: code, sourceLocation: sourceLocation)
            #expect(r.stderr.contains(fragment), "\(r.stderr)", sourceLocation: sourceLocation)
            #expect(try await admin.run("settings", "export").stdout == before, sourceLocation: sourceLocation)
        }
        try await refuse("sites: {nas: {provider: floppy_disk, roots: {work: /x}}}", "sites.nas.provider: unknown provider 'floppy_disk'")
        try await refuse("# nothing but a comment\n", "is empty (or only comments)")
        try await refuse(Self.studioYAML(dir.path).replacingOccurrences(of: "retry_count: 3", with: "retry_count: -1"),
                   "projects.default.sitesync.retry_count: -1 is out of range")
        // The project added with `project add` is not in the file: its roots would be lost.
        try await admin.run("project", "add", "aliens", "--root", "work=\(dir.path)/aliens")
        let withAliens = try await admin.run("settings", "export").stdout
        try Self.studioYAML(dir.path).write(toFile: "\(dir.path)/studio.yaml", atomically: true, encoding: .utf8)
        let r = try await admin.run(["settings", "import", "\(dir.path)/studio.yaml"], expect: 4)
        #expect(r.stderr.contains("project 'aliens' is not in the file; it would lose roots.work = \(dir.path)/aliens"))
        #expect(try await admin.run("settings", "export").stdout == withAliens)
        try await admin.run("settings", "import", "--replace-all", "\(dir.path)/studio.yaml")
        #expect(!(try await admin.run("settings", "export").stdout.contains("aliens")))
    }

    @Test("workfile and ensure through the CLI: JSON, and exit codes a launch hook handles")
    func workfileCLI() async throws {
        let dir = try TemporaryDirectory("cli")
        let (admin, anna) = try await Self.setUp(dir)
        let studioSide = CLI(dir: dir, siteID: "studio-ws")
        try await studioSide.run("local", "set", "--project", "robots", "--active-site", "studio", "--remote-site", "studio")
        let ma = try dir.file("src/anna_modeling.ma", size: 20_000, seed: 3)
        let id = try await studioSide.run("publish", "--project", "robots", "--folder", "chars/anna", "--product", "workfileModeling",
                                    "--version", "7", "--name", "ma", "--task", "modeling", ma).stdout.trimmingCharacters(in: .newlines)
        #expect(try await admin.json("show", id, "--json")["product_type"] as? String == "workfile")
        let created = try await anna.json("workfile", "--project", "robots", "--folder", "chars/anna", "--task", "modeling", "--json")
        #expect(created["action"] as? String == "created" && created["version"] as? Int == 8)
        let path = try #require(created["path"] as? String)
        #expect(path.hasSuffix("/robots/chars/anna/work/modeling/anna_modeling_v008.ma"))
        #expect(FileManager.default.contents(atPath: path) == FileManager.default.contents(atPath: ma))
        let existing = try await anna.json("workfile", "--project", "robots", "--folder", "chars/anna", "--task", "modeling", "--json")
        #expect(existing["action"] as? String == "existing" && existing["path"] as? String == path)
        // Nothing published for the task: exit 3, and the JSON still says so.
        let none = try await anna.run(["workfile", "--project", "robots", "--folder", "chars/anna", "--task", "rigging", "--json"], expect: 3)
        #expect(none.stdout.contains("\"action\" : \"none\""), "\(none.stdout)")
        // ensure: already here → 0; an unknown id → 3.
        let ensured = try await anna.json("ensure", id, "--json")
        #expect(ensured["synced"] as? Bool == true)
        try await anna.run(["ensure", "nope"], expect: 3)
    }

    @Test("--json of site list, project list, settings show and server come from the shared API types")
    func moreJSON() async throws {
        let dir = try TemporaryDirectory("cli")
        let (admin, anna) = try await Self.setUp(dir)
        let sites = try await anna.json("site", "list", "--project", "robots", "--json")
        let list = sites["sites"] as? [[String: Any]] ?? []
        let vendor = list.first { $0["name"] as? String == "vendor" }
        #expect(sites["project"] as? String == "robots")
        #expect(vendor?["alternates"] as? [String] == ["studio"])
        #expect(vendor?["capabilities"] as? [String] == ["local folder"])
        let projects = try await admin.json("project", "list", "--json")
        #expect((projects["projects"] as? [[String: Any]])?.first?["name"] as? String == "robots")
        let settings = try await anna.json("settings", "show", "--json", "--project", "robots")
        #expect(settings["site_id"] as? String == "ws-anna")
        let summary = try await anna.json("server", "--once", "--json")
        #expect(summary["succeeded"] as? Bool == true && (summary["moved"] as? [Any])?.isEmpty == true)
    }

    @Test("secrets are hidden by settings show, site list and export (unless --include-secrets)")
    func secrets() async throws {
        let dir = try TemporaryDirectory("cli")
        let (admin, _) = try await Self.setUp(dir)
        let yaml = Self.studioYAML(dir.path) + """

            sites:
              vendor2: {provider: sftp, host: h.example, user: v, password: "hunter2-secret", roots: {work: /upload}}
            """
        // A second `sites:` key is refused (written twice): put the site into the first block instead.
        try yaml.write(toFile: "\(dir.path)/s.yaml", atomically: true, encoding: .utf8)
        let twice = try await admin.run(["settings", "import", "\(dir.path)/s.yaml"], expect: 2).stderr
        #expect(twice.contains("duplicated key(s): 'sites'") && twice.contains("in line"), "\(twice)")
        #expect(twice.split(separator: "\n").count == 1, "\(twice)")
        let fixed = Self.studioYAML(dir.path).replacingOccurrences(of: "sites:\n", with: "sites:\n  vendor2: {provider: sftp, host: h.example, user: v, password: \"hunter2-secret\", roots: {work: /upload}}\n")
        try fixed.write(toFile: "\(dir.path)/s.yaml", atomically: true, encoding: .utf8)
        try await admin.run("settings", "import", "\(dir.path)/s.yaml")
        for args in [["settings", "export"], ["settings", "show"], ["site", "list", "--json"], ["settings", "show", "--json"]] {
            let out = try await admin.run(args).stdout
            #expect(!out.contains("hunter2"), "\(args)")
            #expect(out.contains("***"), "\(args)")
        }
        #expect(try await admin.run("settings", "export", "--include-secrets").stdout.contains("hunter2-secret"))
        // An export without secrets, imported back, is refused rather than storing *** as the password.
        try await admin.run("settings", "export").stdout.write(toFile: "\(dir.path)/exported.yaml", atomically: true, encoding: .utf8)
        #expect(try await admin.run(["settings", "import", "\(dir.path)/exported.yaml"], expect: 2).stderr.contains("sites.vendor2.password"))
    }

    @Test("the studio scenario, driven only through the CLI")
    func studioScenario() async throws {
        let dir = try TemporaryDirectory("cli")
        let (admin, anna) = try await Self.setUp(dir)
        #expect(try await admin.run("project", "list").stdout.contains("robots"))
        try await admin.run("project", "add", "aliens", "--root", "work=\(dir.path)/studio")
        #expect(try await anna.run("site", "id").stdout == "ws-anna\n")
        let sites = try await anna.run("site", "list", "--project", "robots").stdout
        #expect(sites.contains("ws-anna\tlocal_drive\twork=\(dir.path)/anna") && sites.contains("active"))
        #expect(sites.contains("vendor") && sites.contains("alternates: studio"))
        #expect(try await anna.run("site", "check", "studio", "--project", "robots").stdout.contains("OK"))

        // The artist publishes: the id alone on stdout.
        let ma = try dir.file("src/anna_model.ma", size: 120_000, seed: 1)
        let tex = try dir.file("src/anna_diffuse.tex", size: 2_000_000, seed: 2)
        let published = try await anna.run("publish", "--project", "robots", "--folder", "chars/anna", "--product", "modelMain",
                                     "--version", "3", "--name", "ma", "--task", "modeling", "--host", "maya", ma, tex)
        let id = published.stdout.trimmingCharacters(in: .newlines)
        #expect(isUUID(id), "stdout: \(published.stdout)")
        let annaCopy = "\(dir.path)/anna/robots/chars/anna/publish/modelMain/v003/anna_model.ma"
        #expect(FileManager.default.fileExists(atPath: annaCopy))
        // Publishing it again is an error.
        let again = try await anna.run(["publish", "--project", "robots", "--folder", "chars/anna", "--product", "modelMain",
                                  "--version", "3", "--name", "ma", ma], expect: 4)
        #expect(again.stderr.contains("already published"))

        // The artist's server uploads to studio and copies to backup.
        let first = try await anna.run("server", "--once")
        #expect(first.stdout.contains("moved 4 file(s)"), "\(first.stdout)")
        // Each log line is one line: a UTC time stamp, the level, the message.
        let logLines = first.stderr.split(separator: "\n").map(String.init)
        #expect(logLines.contains { $0.contains(" info: synced ") })
        #expect(logLines.allSatisfy { $0.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (trace|debug|info|notice|warning|error|critical): .+/) != nil },
                "\(first.stderr)")
        let studioCopy = "\(dir.path)/studio/robots/chars/anna/publish/modelMain/v003/anna_model.ma"
        #expect(FileManager.default.contents(atPath: studioCopy) == FileManager.default.contents(atPath: ma))
        #expect(FileManager.default.fileExists(atPath: "\(dir.path)/backup/robots/chars/anna/publish/modelMain/v003/anna_diffuse.tex"))

        // status --json: every site synced, the vendor alternate without a transfer.
        let status = try await anna.json("status", "--json", "--project", "robots")
        let reps = status["representations"] as? [[String: Any]] ?? []
        #expect(reps.count == 1)
        let siteStates = (reps.first?["sites"] as? [String: [String: Any]]) ?? [:]
        #expect(Set(siteStates.keys) == ["ws-anna", "studio", "vendor", "backup"])
        #expect(siteStates.values.allSatisfy { $0["status"] as? String == "synced" })
        #expect(reps.first?["file_count"] as? Int == 2)

        // The studio's service has nothing left to do.
        let service = CLI(dir: dir, siteID: "studio-service")
        #expect(try await service.run("server", "--once", "--active-site", "studio").stdout.contains("moved 0 file(s)"))

        // A second artist downloads it.
        let bob = CLI(dir: dir, siteID: "ws-bob")
        try await bob.run("local", "set", "--root", "work=\(dir.path)/bob", "--active-site", "local", "--remote-site", "studio")
        #expect(try await bob.run("download", id).stdout.contains("queued \(id) for ws-bob"))
        #expect(try await bob.run("server", "--once").stdout.contains("moved 2 file(s)"))
        let bobCopy = "\(dir.path)/bob/robots/chars/anna/publish/modelMain/v003/anna_diffuse.tex"
        #expect(FileManager.default.contents(atPath: bobCopy) == FileManager.default.contents(atPath: tex))

        // show --json: per file × site.
        let detail = try await bob.json("show", id, "--json")
        let files = detail["files"] as? [[String: Any]] ?? []
        #expect(files.count == 2)
        #expect(files.allSatisfy { (($0["sites"] as? [String: Any])?.count ?? 0) == 5 })
        #expect((detail["site_status"] as? [String: String])?["ws-bob"] == "synced")

        // The artist frees disk space: allowed, other copies exist.
        #expect(try await anna.run("remove-site", id, "--site", "local").stdout.contains("deleted 2 file(s)"))
        #expect(!FileManager.default.fileExists(atPath: annaCopy))
        // Removing the backup, then bob's copy, then studio's would leave nothing: the last is refused.
        try await admin.run("remove-site", id, "--site", "backup")
        try await bob.run("remove-site", id, "--site", "local")
        let last = try await admin.run(["remove-site", id, "--site", "studio"], expect: 4)
        #expect(last.stderr.contains("refusing to remove") && last.stderr.contains("min_copies 1"), "\(last.stderr)")
        #expect(FileManager.default.fileExists(atPath: studioCopy))

        // add-site, priority, pause, resume, reset.
        try await admin.run("add-site", id, "--site", "backup", "--priority", "80")
        #expect(try await admin.run(["add-site", id, "--site", "backup"], expect: 4).stderr.contains("--force"))
        try await admin.run("priority", id, "90")
        try await admin.run("pause", "--representation", id)
        #expect(try await service.run("server", "--once", "--active-site", "studio").stdout.contains("moved 0 file(s)"))
        try await admin.run("resume", "--representation", id)
        #expect(try await service.run("server", "--once", "--active-site", "studio").stdout.contains("moved 2 file(s)"))
        try await admin.run("reset", id, "--site", "backup")
        // The files are still on backup with the right bytes: recorded again, not copied again.
        #expect(try await service.run("server", "--once", "--active-site", "studio").stdout.contains("moved 0 file(s), 0 B in"))
        #expect(try await admin.run("show", id).stdout.contains("backup"))
        let backupState = try await admin.json("show", id, "--json")
        let first0 = (backupState["files"] as? [[String: Any]])?.first?["sites"] as? [String: [String: Any]]
        #expect(first0?["backup"]?["priority"] as? Int == 90)
        #expect(first0?["backup"]?["status"] as? String == "synced")

        // Settings round trip.
        let exported = try await admin.run("settings", "export").stdout
        #expect(exported.contains("aliens") && exported.contains("always_accessible_on"))
        let shown = try await anna.run("settings", "show", "--project", "robots").stdout
        #expect(shown.contains("active_site: ws-anna"))
        try await admin.run("project", "disable", "aliens")
        #expect(try await admin.run("project", "list").stdout.contains("aliens\tdisabled"))
    }

    @Test("publish --json has the documented shape")
    func publishJSON() async throws {
        let dir = try TemporaryDirectory("cli")
        let (_, anna) = try await Self.setUp(dir)
        let file = try dir.file("src/x.abc", size: 1000)
        let json = try await anna.json("publish", "--json", "--project", "robots", "--folder", "shots/sh010", "--product", "cache",
                                 "--version", "1", "--name", "abc", file)
        #expect(isUUID(json["id"] as? String))
        #expect(json["project"] as? String == "robots" && json["version"] as? Int == 1)
        let files = json["files"] as? [[String: Any]] ?? []
        #expect(files.first?["path"] as? String == "{root[work]}/robots/shots/sh010/publish/cache/v001/x.abc")
        #expect(files.first?["sha256"] as? String == (try LocalFiles.digest(of: file)).sha256)
        #expect(files.first?["size"] as? Int == 1000)
        #expect(json["sites"] as? [String: String] == ["ws-anna": "synced", "studio": "queued", "vendor": "queued", "backup": "queued"])
    }

    @Test("server --once exits non-zero when a file fails for good, and says why")
    func onceFails() async throws {
        let dir = try TemporaryDirectory("cli")
        let (_, anna) = try await Self.setUp(dir)
        let file = try dir.file("src/rot.ma", size: 5000)
        let id = try await anna.run("publish", "--project", "robots", "--folder", "a", "--product", "b", "--version", "1",
                              "--name", "ma", file).stdout.trimmingCharacters(in: .newlines)
        // A plain file where studio's folder must go: the copy to studio cannot be written.
        try FileManager.default.createDirectory(atPath: "\(dir.path)/studio/robots/a/publish", withIntermediateDirectories: true)
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: "\(dir.path)/studio/robots/a/publish/b"))
        let result = try await anna.run(["server", "--once"], expect: 1)
        #expect(result.stdout.contains("1 failed"), "\(result.stdout)")
        #expect(result.stdout.contains("Not a directory"), "\(result.stdout)")
        let detail = try await anna.run("show", id).stdout
        #expect(detail.contains("failed") && detail.contains("tries 3"))
    }

    @Test("a killed server leaves nothing under the final name; the next one takes the lease over and finishes")
    func killedTransfer() async throws {
        let dir = try TemporaryDirectory("cli")
        let (_, anna) = try await Self.setUp(dir, extraBackup: "\n    bandwidth_limit: 4M", lease: "2")
        let big = try dir.file("src/big.bin", size: 24 << 20, seed: 5)
        try await anna.run("publish", "--project", "robots", "--folder", "fx", "--product", "sim", "--version", "1", "--name", "bin", big)
        let final = "\(dir.path)/backup/robots/fx/publish/sim/v001/big.bin"
        let temporary = "\(dir.path)/backup/robots/fx/publish/sim/v001/.big.bin.sitesync.part"
        let server = try anna.start(["server"])
        do {
            try await eventually("the copy to backup to be under way", timeout: 60) {
                (try? FileManager.default.attributesOfItem(atPath: temporary)[.size] as? Int).map { $0 > 1 << 20 } ?? false
            }
        } catch {
            server.signal(SIGKILL)
            let output = server.finish()
            Issue.record("the server said: \(output.stdout.suffix(2000)) \(output.stderr.suffix(3000))")
            throw error
        }
        server.signal(SIGKILL)
        #expect(await server.wait(timeout: 10))
        #expect(!FileManager.default.fileExists(atPath: final), "a killed transfer must leave nothing under the final name")
        // The next server waits out the dead one's lease (2 s here), takes the work over and verifies it.
        let next = try await anna.run("server", "--once")
        #expect(next.stdout.contains("0 failed"))
        #expect(FileManager.default.contents(atPath: final) == FileManager.default.contents(atPath: big))
        #expect(!FileManager.default.fileExists(atPath: temporary))
    }

    @Test("SIGTERM stops the server cleanly: exit 0, no partial file, leases released")
    func sigterm() async throws {
        let dir = try TemporaryDirectory("cli")
        let (_, anna) = try await Self.setUp(dir, extraBackup: "\n    bandwidth_limit: 2M")
        let big = try dir.file("src/big.bin", size: 16 << 20, seed: 6)
        let id = try await anna.run("publish", "--project", "robots", "--folder", "fx", "--product", "sim", "--version", "1",
                              "--name", "bin", big).stdout.trimmingCharacters(in: .newlines)
        let temporary = "\(dir.path)/backup/robots/fx/publish/sim/v001/.big.bin.sitesync.part"
        let server = try anna.start(["server"])
        try await eventually("the copy to backup to be under way", timeout: 60) { FileManager.default.fileExists(atPath: temporary) }
        server.signal(SIGTERM)
        #expect(await server.wait(timeout: 10), "the server must exit promptly on SIGTERM")
        #expect(server.child.terminationStatus == 0, "stderr: \(server.finish().stderr)")
        #expect(!FileManager.default.fileExists(atPath: temporary))
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/backup/robots/fx/publish/sim/v001/big.bin"))
        let detail = try await anna.json("show", id, "--json")
        let backup = ((detail["files"] as? [[String: Any]])?.first?["sites"] as? [String: [String: Any]])?["backup"]
        #expect(backup?["status"] as? String == "queued")
        #expect(backup?["lease_owner"] is NSNull)
        #expect(backup?["tries"] as? Int == 0)
    }

    @Test("the demo runs and verifies every copy")
    func demo() async throws {
        let dir = try TemporaryDirectory("cli")
        let result = try await CLI(dir: dir, siteID: "ws-x").run("demo")
        #expect(result.stdout.contains("0 problem(s)"))
        #expect(result.stdout.contains("moved 26 files"))
    }
}

/// Latency promises, measured on a machine not busy with other tests (run after them, by `scripts/test.sh`).
@Suite("CLI timing (run alone)", .serialized)
struct CLITimingAloneTests {
    @Test("a running server starts on a publish from another process well under a second later")
    func promptStart() async throws {
        let dir = try TemporaryDirectory("cli")
        let (_, anna) = try await CLITests.setUp(dir)
        let server = try anna.start(["server"])
        defer { server.signal(SIGTERM) }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let file = try dir.file("src/quick.ma", size: 4096)
        try await anna.run("publish", "--project", "robots", "--folder", "a", "--product", "b", "--version", "1", "--name", "ma", file)
        let published = Date()
        let target = "\(dir.path)/studio/robots/a/publish/b/v001/quick.ma"
        try await eventually("the file to reach studio", timeout: 5) { FileManager.default.fileExists(atPath: target) }
        let latency = Date().timeIntervalSince(published)
        #expect(latency < 1, "took \(latency) s")
        server.signal(SIGTERM)
        #expect(await server.wait(timeout: 10))
    }
}
