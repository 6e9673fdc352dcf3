import Foundation
import SiteSyncModel
import Testing

/// The studio settings example, verbatim.
let studioExample = """
    enabled: true
    sites:
      backup:
        provider: local_drive
        roots: {work: /mnt/backup}
      vendor:
        provider: local_drive
        roots: {work: /srv/vendor}
        alternative_sites: [studio]
    projects:
      default:
        sitesync: {enabled: true, retry_count: 3, loop_delay: 60, active_site: studio, remote_site: studio,
                   always_accessible_on: [backup]}
      robots:
        roots: {work: {linux: /mnt/studio/projects, windows: "P:/projects"}}
        sitesync: {remote_site: studio, sites: {backup: {roots: {work: /mnt/backup/robots}}}}
    """

let localExample = """
    site_id: ws-anna-3f9a
    default: {roots: {work: /home/anna/sitesync}}
    projects:
      robots: {active_site: local, remote_site: studio}
    """

@Suite("Settings layering")
struct SettingsTests {
    func context(studio: String = studioExample, local: String = localExample, platform: Platform = .linux) throws -> SettingsContext {
        let localSettings = try LocalSettings(yaml: local, source: "local.yaml")
        return SettingsContext(studio: try StudioSettings(yaml: studio, source: "studio.yaml"), local: localSettings,
                               siteID: localSettings.siteID ?? "ws-test", platform: platform)
    }

    @Test("the issue's example: system → default → project → this machine")
    func layering() throws {
        let p = try context().project("robots")
        #expect(p.enabled)
        #expect(p.sync.retryCount == 3)
        #expect(p.sync.loopDelay == 60)
        // The machine's local settings make it work on its own site; `local` is resolved to the real id.
        #expect(p.sync.activeSite == "ws-anna-3f9a")
        #expect(p.sync.remoteSite == "studio")
        #expect(p.sync.alwaysAccessibleOn == ["backup"])
        // The project's override of the backup site's roots wins over the system definition.
        #expect(try p.site("backup").rootPaths(on: .linux) == ["work": "/mnt/backup/robots"])
        // studio is the project's own roots, per platform.
        #expect(try p.site("studio").rootPaths(on: .linux) == ["work": "/mnt/studio/projects"])
        #expect(try p.site("studio").rootPaths(on: .windows) == ["work": "P:/projects"])
        #expect(try p.site("studio").provider == "local_drive")
        // `local` and the id are the same site, with the machine's roots.
        #expect(try p.site("local").name == "ws-anna-3f9a")
        #expect(try p.site("ws-anna-3f9a").rootPaths(on: .linux) == ["work": "/home/anna/sitesync"])
    }

    @Test("a project without its own block inherits `default`; local default overrides apply")
    func inheritance() throws {
        let local = """
            site_id: ws-bob-0001
            default: {roots: {work: /home/bob/sync}, remote_site: vendor}
            """
        let p = try context(local: local).project("other")
        #expect(p.sync.activeSite == "studio")
        #expect(p.sync.remoteSite == "vendor")
        #expect(try p.site("backup").rootPaths(on: .linux) == ["work": "/mnt/backup"])
    }

    @Test("with Site Sync off everyone works on studio, whatever the local settings say")
    func disabled() throws {
        let studio = studioExample.replacingOccurrences(of: "sitesync: {remote_site: studio,", with: "sitesync: {enabled: false, remote_site: studio,")
        let p = try context(studio: studio).project("robots")
        #expect(!p.enabled)
        #expect(p.sync.activeSite == "studio" && p.sync.remoteSite == "studio")
        let off = try context(studio: "enabled: false\n").project("robots")
        #expect(!off.enabled)
    }

    @Test("alternates are symmetric and transitive")
    func alternates() throws {
        let p = try context().project("robots")
        #expect(p.alternates.alternates(of: "studio") == ["vendor"])
        #expect(p.alternates.alternates(of: "vendor") == ["studio"])
        let chain = AlternateSites(declared: ["A": ["C"], "B": ["C"], "C": ["D"], "D": ["A"], "F": ["G"]])
        #expect(chain.group(of: "B") == ["A", "B", "C", "D"])
        #expect(chain.alternates(of: "G") == ["F"])
        #expect(chain.alternates(of: "lonely").isEmpty)
        let sftp = AlternateSites(declared: ["SFTP": ["studio"], "studio2": ["studio"]])
        #expect(sftp.alternates(of: "SFTP") == ["studio", "studio2"])
    }

    @Test("publish attaches active synced, remote and always-accessible queued, alternates mirrored")
    func publishSites() throws {
        let local = "site_id: ws-anna-3f9a\nprojects: {robots: {active_site: local, remote_site: vendor}}\n"
        let p = try context(local: local).project("robots")
        #expect(p.publishSites() == ["ws-anna-3f9a": .synced, "vendor": .queued, "studio": .queued, "backup": .queued])
        let atStudio = try context(local: "site_id: ws-x\n").project("robots")
        #expect(atStudio.publishSites() == ["studio": .synced, "vendor": .synced, "backup": .queued])
    }

    /// Provider schemas as a build could declare them (the real ones live in the provider modules).
    static let schemas = [
        ProviderSchema(provider: "local_drive", options: []),
        ProviderSchema(provider: "sftp", options: [
            OptionSpec("host", .text, required: true, help: "the server"),
            OptionSpec("port", .integer, range: 1...65535, help: "the port"),
            OptionSpec("user", .text, required: true, help: "the account"),
            OptionSpec("password", .text, secret: true, help: "the password"),
            OptionSpec("key_file", .path, help: "a key"),
            OptionSpec("key_passphrase", .text, secret: true, help: "its passphrase"),
        ], exactlyOneOf: [["password", "key_file"]]),
    ]

    func problems(_ yaml: String) -> String {
        do {
            let studio = try StudioSettings(yaml: yaml, source: "studio.yaml")
            try SettingsValidator(schemas: Self.schemas).validate(studio)
            _ = try SettingsContext(studio: studio, local: LocalSettings(), siteID: "ws-x").project("robots")
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test("bad settings name the key and the fix")
    func errors() throws {
        let roots = "projects: {robots: {roots: {work: /p}}}\n"
        #expect(problems(roots + "sites: {nas: {roots: {work: /x}}}").contains("sites.nas: site 'nas' has no provider"))
        #expect(problems("projects: {robots: {roots: {work: /p}, sitesync: {retry_count: many}}}").contains("projects.robots.sitesync.retry_count: expected a whole number"))
        #expect(problems("projects: {robots: {roots: {work: /p}}, default: {sitesync: {remote_site: moon}}}").contains("projects.default.sitesync.remote_site: 'moon' is not a configured site"))
        #expect(problems(roots + "sites: {local: {provider: local_drive}}").contains("sites.local"))
        #expect(problems("projets: {}").contains("projets: unknown key; did you mean 'projects'?"))
        #expect(problems("sites: [a, b]").contains("sites: expected a map"))
        #expect(problems("{{{").contains("not valid YAML"))
        #expect(problems(roots + "sites: {backup: {provider: local_drive, roots: {work: {amiga: /x}}}}").contains("sites.backup.roots.work.amiga: unknown key"))
        #expect(problems(roots + "sites: {v: {provider: sftp, hots: h, user: u, password: p, roots: {work: /u}}}").contains("sites.v.hots: unknown key; did you mean 'host'?"))
        #expect(problems(roots + "sites: {v: {provider: sftp, host: h, user: u, roots: {work: /u}}}").contains("sites.v: sftp sites need one of `password` or `key_file`"))
        // OpenPype stored numbers as text; they are accepted.
        #expect(problems("projects: {robots: {roots: {work: /p}, sitesync: {retry_count: \"5\", loop_delay: \"30\"}}}") == "no error")
        #expect(problems(studioExample) == "no error")
    }

    @Test("problems are reported where they are written, all at once")
    func layers() throws {
        let yaml = """
            sites:
              vendor: {provider: sftp, host: h, user: u, password: p, port: abc, roots: {work: /u}}
            projects:
              default: {sitesync: {always_accessible_on: [bakup]}}
              robots:
                roots: {work: relative/dir}
                sitesync: {sites: {vendor: {portt: 22}}}
            """
        let text = problems(yaml)
        #expect(text.contains("sites.vendor.port: expected a whole number"))
        #expect(text.contains("projects.default.sitesync.always_accessible_on[0]: 'bakup' is not a configured site"))
        #expect(text.contains("projects.robots.roots.work: 'relative/dir' is a relative path"))
        #expect(text.contains("projects.robots.sitesync.sites.vendor.portt: unknown key; did you mean 'port'?"))
    }

    @Test("YAML aliases that expand into a bomb are refused quickly; merge keys work")
    func aliases() throws {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<9 { bomb += "\(Character(UnicodeScalar(97 + i)!)): &\(Character(UnicodeScalar(97 + i)!)) [" + Array(repeating: "*\(Character(UnicodeScalar(96 + i)!))", count: 10).joined(separator: ", ") + "]\n" }
        // This thread's CPU time, not the wall clock: the bound is on the work done (an unguarded bomb expands to a
        // billion values, minutes of CPU), which a loaded machine running the other suites does not stretch.
        func cpuSeconds() -> Double {
            var now = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
            return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        }
        let started = cpuSeconds()
        #expect(throws: SettingsError.self) { try StudioSettings(yaml: bomb, source: "bomb.yaml") }
        #expect(cpuSeconds() - started < 5)
        let merged = try StudioSettings(yaml: """
            sites:
              base: &base {provider: local_drive, concurrency: 2, roots: {work: /b}}
              copy: {<<: *base, roots: {work: /c}}
            """, source: "m")
        #expect(merged.siteDefinitions["copy"]?["concurrency"] == .int(2))
        #expect(merged.siteDefinitions["copy"]?["roots"]?["work"] == .string("/c"))
        #expect(throws: SettingsError.self) { try StudioSettings(yaml: "sites: {a: {provider: x}, a: {provider: y}}", source: "dup") }
    }

    @Test("the built-in publish and work templates equal the parsed ones")
    func standardTemplate() throws {
        #expect(try PathTemplate(PathTemplate.defaultPublish) == PathTemplate.standardPublish)
        #expect(try PathTemplate(PathTemplate.defaultWork, kind: .work) == PathTemplate.standardWork)
    }

    @Test("work files: the path of a version, and which files in the work area are versions of the task")
    func workTemplate() throws {
        let t = PathTemplate.standardWork
        let key = WorkFileKey(project: "robots", folder: "chars/anna", task: "modeling", ext: ".ma")
        #expect(try t.workPath(key, version: 4) == "{root[work]}/robots/chars/anna/work/modeling/anna_modeling_v004.ma")
        var any = key
        any.ext = ""
        let (folder, version) = try t.workVersions(any)
        #expect(folder == "{root[work]}/robots/chars/anna/work/modeling")
        #expect(version("anna_modeling_v004.ma") == 4)
        #expect(version("anna_modeling_v012.mb") == 12)
        #expect(version("anna_modeling_v7") == 7)
        #expect(version("anna_rigging_v004.ma") == nil)
        #expect(version("anna_modeling_vX.ma") == nil)
        #expect(version(".anna_modeling_v004.ma.sitesync.part") == nil)
        #expect(throws: SettingsError.self) { try PathTemplate("{root[work]}/{project}/v{version}/{task}{ext}", kind: .work) }
        #expect(throws: SettingsError.self) { try PathTemplate("{root[work]}/{project}/{folder_name}_v{version}", kind: .work) }
        #expect(RepresentationContext(project: "p", folder: "f", product: "workfileModeling", version: 1, name: "ma").effectiveProductType == "workfile")
        #expect(RepresentationContext(project: "p", folder: "f", product: "model", version: 1, name: "ma").effectiveProductType == "model")
    }

    @Test("export and import round-trip the document")
    func roundTrip() throws {
        let studio = try StudioSettings(yaml: studioExample, source: "studio.yaml")
        let again = try StudioSettings(yaml: studio.document.yamlText(), source: "export")
        #expect(again == studio)
        let local = try LocalSettings(yaml: localExample, source: "local.yaml")
        #expect(try LocalSettings(yaml: local.yamlText(), source: "again") == local)
        // Text that looks like a number stays text.
        let tricky = try StudioSettings(yaml: "sites: {s: {provider: local_drive, roots: {work: \"007\"}, host: \"true\"}}", source: "x")
        #expect(try StudioSettings(yaml: tricky.document.yamlText(), source: "y") == tricky)
    }

    @Test("secrets are hidden when settings are shown")
    func redaction() throws {
        let yaml = "sites: {vendor: {provider: sftp, host: h, user: u, password: hunter2, key_passphrase: pp, roots: {work: /upload}}}"
        let p = try SettingsContext(studio: StudioSettings(yaml: yaml, source: "s"), local: LocalSettings(), siteID: "ws-x").project("p")
        let shown = try p.site("vendor").shownOptions(secretKeys: ProviderSchema(provider: "sftp", options: Self.schemas[1].options).secretKeys).yamlText()
        #expect(!shown.contains("hunter2") && !shown.contains("pp\n"))
        #expect(shown.contains("password: '***'") || shown.contains("password: \"***\"") || shown.contains("password: ***"))
    }
}

@Suite("Paths and templates")
struct PathTests {
    @Test("the default publish template")
    func template() throws {
        let t = try PathTemplate(PathTemplate.defaultPublish)
        let c = RepresentationContext(project: "robots", folder: "chars/anna", product: "modelMain", version: 7, name: "ma")
        #expect(t.render(c) == "{root[work]}/robots/chars/anna/publish/modelMain/v007")
        let custom = try PathTemplate("{root[renders]}/{project}/{folder}/{task}/{product}_v{version:04}_{name}")
        var c2 = c
        c2.task = "lighting"
        #expect(custom.render(c2) == "{root[renders]}/robots/chars/anna/lighting/modelMain_v0007_ma")
        #expect(throws: SettingsError.self) { try PathTemplate("/no/root/{project}") }
        #expect(throws: SettingsError.self) { try PathTemplate("{root[work]}/{asset}") }
        #expect(throws: SettingsError.self) { try PathTemplate("{root[work]}/{version:x}") }
    }

    @Test("braces in names are literal, only the leading root is a placeholder")
    func braces() throws {
        let c = RepresentationContext(project: "robots", folder: "odd{dir}", product: "p{0}", version: 1, name: "ma")
        let folder = try PathTemplate(PathTemplate.defaultPublish).render(c)
        let path = folder + "/file{root[work]}.ma"
        #expect(try RootlessPath.resolve(path, roots: ["work": "/mnt/studio/"], site: "studio")
                == "/mnt/studio/robots/odd{dir}/publish/p{0}/v001/file{root[work]}.ma")
    }

    @Test("a missing root names the site and the root")
    func missingRoot() {
        #expect(throws: SettingsError.self) { try RootlessPath.resolve("{root[renders]}/x", roots: ["work": "/w"], site: "backup") }
        do {
            _ = try RootlessPath.resolve("{root[renders]}/x", roots: ["work": "/w"], site: "backup")
        } catch {
            #expect("\(error)".contains("site 'backup' has no root 'renders'"))
        }
    }

    @Test("representation names are checked before they become paths")
    func contextValidation() {
        func ok(_ folder: String, _ product: String = "p") -> Bool {
            (try? RepresentationContext(project: "robots", folder: folder, product: product, version: 1, name: "ma").validate()) != nil
        }
        #expect(ok("chars/anna"))
        #expect(!ok("../escape"))
        #expect(!ok("/abs"))
        #expect(!ok("a//b"))
        #expect(!ok("a", "x/y"))
        #expect(!ok("a", ".."))
    }

    @Test("retry backoff doubles with jitter, then gives up")
    func retryPolicy() {
        let policy = RetryPolicy(count: 4, base: 10, max: 25)
        #expect(policy.delay(afterTries: 1, jitter: 0.5) == 10)
        #expect(policy.delay(afterTries: 2, jitter: 0.5) == 20)
        #expect(policy.delay(afterTries: 3, jitter: 0.5) == 25)  // capped
        #expect(policy.delay(afterTries: 1, jitter: 0) == 5)
        #expect(policy.delay(afterTries: 1, jitter: 0.999)! < 15)
        #expect(policy.delay(afterTries: 4, jitter: 0.5) == nil)
    }

    @Test("representation status is synced only when every file is")
    func derivedStatus() {
        #expect(RepresentationSiteStatus(files: [.synced, .synced]) == .synced)
        #expect(RepresentationSiteStatus(files: [.synced, .queued]) == .queued)
        #expect(RepresentationSiteStatus(files: [.synced, .failed, .inProgress]) == .failed)
        #expect(RepresentationSiteStatus(files: [.paused, .synced]) == .paused)
        #expect(RepresentationSiteStatus(files: []) == .queued)
    }
}
