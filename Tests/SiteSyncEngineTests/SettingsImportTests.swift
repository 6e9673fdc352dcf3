import Foundation
import SiteSyncEngine
import SiteSyncModel
import SiteSyncStandard
import SiteSyncTestSupport
import Testing

/// Bad studio files, each refused whole at import with the key's path (in the layer that wrote it) and the fix;
/// the catalog keeps the settings it had.
@Suite("Settings import refuses bad files")
struct SettingsImportTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var yaml: String
        /// Every fragment must appear in the error.
        var expected: [String]
        var testDescription: String { name }
    }

    static let good = """
        sites:
          backup: {provider: local_drive, roots: {work: /mnt/backup}}
          vendor: {provider: sftp, host: sftp.example, user: vendor, key_file: /k, roots: {work: /upload}, alternative_sites: [studio]}
        projects:
          default: {sitesync: {active_site: local, remote_site: studio, always_accessible_on: [backup]}}
          robots: {roots: {work: /mnt/studio}}
        """

    static func with(_ from: String, _ to: String) -> String {
        precondition(good.contains(from), "case edits text the good file does not have: \(from)")
        return good.replacingOccurrences(of: from, with: to)
    }

    static let cases: [Case] = [
        Case(name: "unknown provider", yaml: with("provider: local_drive, roots: {work: /mnt/backup}", "provider: floppy_disk, roots: {work: /mnt/backup}"),
             expected: ["sites.backup.provider: unknown provider 'floppy_disk'", "this build has: external, gdrive, local_drive, rclone, s3, sftp"]),
        Case(name: "a typo in a provider", yaml: with("provider: sftp,", "provider: sftpp,"),
             expected: ["sites.vendor.provider: unknown provider 'sftpp'; did you mean 'sftp'?"]),
        Case(name: "unknown key in a site", yaml: with("host: sftp.example", "hots: sftp.example"),
             expected: ["sites.vendor.hots: unknown key; did you mean 'host'?"]),
        Case(name: "wrong type", yaml: with("user: vendor,", "user: vendor, port: abc,"),
             expected: ["sites.vendor.port: expected a whole number"]),
        Case(name: "port out of range", yaml: with("user: vendor,", "user: vendor, port: 70000,"),
             expected: ["sites.vendor.port: 70000 is out of range: from 1 to 65535"]),
        Case(name: "missing required key", yaml: with("user: vendor, ", ""),
             expected: ["sites.vendor: sftp sites need `user`"]),
        Case(name: "two of password and key_file", yaml: with("key_file: /k", "key_file: /k, password: x"),
             expected: ["sites.vendor: give only one of `password` and `key_file`"]),
        Case(name: "a site without roots", yaml: with("backup: {provider: local_drive, roots: {work: /mnt/backup}}", "backup: {provider: local_drive}"),
             expected: ["sites.backup: site 'backup' has no roots; add e.g. `roots: {work: /mnt/backup}`"]),
        Case(name: "a relative root", yaml: with("roots: {work: /mnt/backup}", "roots: {work: mnt/backup}"),
             expected: ["sites.backup.roots.work: 'mnt/backup' is a relative path; give an absolute one"]),
        Case(name: "a relative Windows root", yaml: with("robots: {roots: {work: /mnt/studio}}", "robots: {roots: {work: {linux: /mnt/studio, windows: projects}}}"),
             expected: ["projects.robots.roots.work.windows: 'projects' is a relative path"]),
        Case(name: "an unknown platform", yaml: with("robots: {roots: {work: /mnt/studio}}", "robots: {roots: {work: {linus: /mnt/studio}}}"),
             expected: ["projects.robots.roots.work.linus: unknown key; did you mean 'linux'?"]),
        Case(name: "alternative_sites naming no site", yaml: with("alternative_sites: [studio]", "alternative_sites: [studoi]"),
             expected: ["sites.vendor.alternative_sites[0]: 'studoi' is not a configured site; did you mean 'studio'?"]),
        Case(name: "always_accessible_on naming no site", yaml: with("always_accessible_on: [backup]", "always_accessible_on: [bakup]"),
             expected: ["projects.default.sitesync.always_accessible_on[0]: 'bakup' is not a configured site; did you mean 'backup'?"]),
        Case(name: "active_site naming no site", yaml: with("active_site: local", "active_site: lokal"),
             expected: ["projects.default.sitesync.active_site: 'lokal' is not a configured site"]),
        Case(name: "remote_site naming no site", yaml: with("robots: {roots: {work: /mnt/studio}}", "robots: {roots: {work: /mnt/studio}, sitesync: {remote_site: moon}}"),
             expected: ["projects.robots.sitesync.remote_site: 'moon' is not a configured site"]),
        Case(name: "negative retry_count", yaml: with("active_site: local,", "active_site: local, retry_count: -2,"),
             expected: ["projects.default.sitesync.retry_count: -2 is out of range"]),
        Case(name: "loop_delay of 0", yaml: with("active_site: local,", "active_site: local, loop_delay: 0,"),
             expected: ["projects.default.sitesync.loop_delay: 0 is out of range: at least 0.001"]),
        Case(name: "unknown key in a sitesync block", yaml: with("active_site: local,", "active_site: local, retry_cout: 3,"),
             expected: ["projects.default.sitesync.retry_cout: unknown key; did you mean 'retry_count'?"]),
        Case(name: "unknown key in a project", yaml: with("robots: {roots: {work: /mnt/studio}}", "robots: {root: {work: /mnt/studio}}"),
             expected: ["projects.robots.root: unknown key; did you mean 'roots'?"]),
        Case(name: "unknown key at the top", yaml: "project: {}\n" + good,
             expected: ["project: unknown key; did you mean 'projects'?"]),
        Case(name: "unknown key in a project's site override", yaml: with("robots: {roots: {work: /mnt/studio}}", "robots: {roots: {work: /mnt/studio}, sitesync: {sites: {backup: {rootz: {work: /x}}}}}"),
             expected: ["projects.robots.sitesync.sites.backup.rootz: unknown key; did you mean 'roots'?"]),
        Case(name: "a wrong type in a project's site override, named where it is written", yaml: with("robots: {roots: {work: /mnt/studio}}", "robots: {roots: {work: /mnt/studio}, sitesync: {sites: {vendor: {port: many}}}}"),
             expected: ["projects.robots.sitesync.sites.vendor.port: expected a whole number"]),
        Case(name: "studio with roots", yaml: with("sites:\n", "sites:\n  studio: {roots: {work: /mnt/other}}\n"),
             expected: ["sites.studio.roots: studio's roots are each project's roots; set them as projects.<project>.roots"]),
        Case(name: "studio with another provider", yaml: with("sites:\n", "sites:\n  studio: {provider: sftp}\n"),
             expected: ["sites.studio.provider: studio is always a local_drive site"]),
        Case(name: "a project without roots", yaml: with("robots: {roots: {work: /mnt/studio}}", "robots: {}"),
             expected: ["projects.robots: has no roots (and projects.default sets none)"]),
        Case(name: "an empty file", yaml: "", expected: ["is empty (or only comments)", "--replace-all"]),
        Case(name: "a comment-only file", yaml: "# studio settings\n# (nothing yet)\n", expected: ["is empty (or only comments)"]),
        Case(name: "concurrency 0", yaml: with("roots: {work: /mnt/backup}", "roots: {work: /mnt/backup}, concurrency: 0"),
             expected: ["sites.backup.concurrency: 0 is out of range: from 1 to 256"]),
        Case(name: "a bandwidth limit that is not a size", yaml: with("roots: {work: /mnt/backup}", "roots: {work: /mnt/backup}, bandwidth_limit: fast"),
             expected: ["sites.backup.bandwidth_limit: 'fast' is not a size like 10M"]),
        Case(name: "a site name with a space", yaml: with("sites:\n", "sites:\n  my nas: {provider: local_drive, roots: {work: /n}}\n"),
             expected: ["sites.my nas: 'my nas' is not a valid site name"]),
        Case(name: "a bad publish template", yaml: with("active_site: local,", "active_site: local, publish_template: \"{root[work]}/{asset}\","),
             expected: ["projects.default.sitesync.publish_template: unknown field '{asset}'"]),
        Case(name: "a hidden secret imported back", yaml: with("key_file: /k", "password: \"***\""),
             expected: ["sites.vendor.password: is '***', a secret hidden by an export"]),
        Case(name: "a YAML alias bomb", yaml: {
            var bomb = "sites:\n  x: &a [a, a, a, a, a, a, a, a, a, a]\n"
            for i in 1...8 { bomb += "  x\(i): &\(i) [" + Array(repeating: i == 1 ? "*a" : "*\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
            return bomb
        }(), expected: ["expands to far more values than its text holds"]),
        Case(name: "not YAML", yaml: "sites: {backup: [\n", expected: ["is not valid YAML"]),
        Case(name: "a Windows path as a plain root", yaml: with("roots: {work: /mnt/backup}", "roots: {work: 'C:\\backup'}"),
             expected: ["sites.backup.roots.work: 'C:\\backup' is a Windows path; give paths per platform"]),
        Case(name: "a root starting with ~", yaml: with("roots: {work: /mnt/backup}", "roots: {work: ~/backup}"),
             expected: ["sites.backup.roots.work: '~/backup': '~' is not expanded"]),
        Case(name: "this machine's site as an alternate", yaml: with("alternative_sites: [studio]", "alternative_sites: [studio, local]"),
             expected: ["sites.vendor.alternative_sites[1]: 'local' is every machine's own site"]),
        Case(name: "a site as its own alternate", yaml: with("alternative_sites: [studio]", "alternative_sites: [vendor]"),
             expected: ["sites.vendor.alternative_sites[0]: a site is not its own alternate"]),
        Case(name: "an alternate listed twice", yaml: with("alternative_sites: [studio]", "alternative_sites: [studio, studio]"),
             expected: ["sites.vendor.alternative_sites[1]: 'studio' is listed twice"]),
        Case(name: "a bandwidth limit too large to hold", yaml: with("roots: {work: /mnt/backup}", "roots: {work: /mnt/backup}, bandwidth_limit: 99999999999G"),
             expected: ["sites.backup.bandwidth_limit: '99999999999G' is too large"]),
        Case(name: "a publish template that climbs out of the root", yaml: with("active_site: local,", "active_site: local, publish_template: \"{root[work]}/{project}/{product}/v{version:03}/../../..\","),
             expected: ["projects.default.sitesync.publish_template: ", "'..' part"]),
        Case(name: "a publish template without {version}", yaml: with("active_site: local,", "active_site: local, publish_template: \"{root[work]}/{project}/{product}\","),
             expected: ["projects.default.sitesync.publish_template: ", "has no {version}"]),
        Case(name: "a publish template naming a root the project lacks", yaml: with("active_site: local,", "active_site: local, publish_template: \"{root[renders]}/{project}/{product}/v{version}\","),
             expected: ["projects.default.sitesync.publish_template: uses {root[renders]}, but project robots has no root 'renders'"]),
        Case(name: "retry_count and retry_cnt both", yaml: with("active_site: local,", "active_site: local, retry_count: 3, retry_cnt: 5,"),
             expected: ["projects.default.sitesync.retry_cnt: give retry_count or retry_cnt"]),
        Case(name: "a list at the top", yaml: "- a\n- b\n", expected: ["the top level must be a map"]),
    ]

    @Test("each bad file is refused with the key path and the fix; the catalog is unchanged", arguments: cases)
    func refused(_ c: Case) async throws {
        let dir = try TemporaryDirectory("import")
        let env = SiteSyncEnvironment(catalogLocation: "\(dir.path)/catalog.sqlite", localSettingsPath: "\(dir.path)/local.yaml",
                                      siteIDOverride: "ws-admin")
        let engine = try SiteSyncStandard.open(env, create: true)
        try await engine.importSettings(yaml: Self.good, source: "studio.yaml")
        let before = try await engine.catalog.studioSettingsYAML()
        do {
            try await engine.importSettings(yaml: c.yaml, source: "studio.yaml")
            Issue.record("\(c.name): accepted")
        } catch {
            let text = "\(error)"
            for fragment in c.expected {
                #expect(text.contains(fragment), "\(c.name): \(text)")
            }
            #expect(ErrorKind.of(error) == .invalidInput, "\(c.name): \(ErrorKind.of(error))")
        }
        #expect(try await engine.catalog.studioSettingsYAML() == before)
    }

    @Test("a problem written in `default` is reported once, where it is written, beside the file's other problems")
    func reportedOnce() async throws {
        let yaml = Self.with("active_site: local,", "active_site: local, publish_template: 5,")
            .replacingOccurrences(of: "robots: {roots: {work: /mnt/studio}}", with: "robots: {roots: {work: /mnt/studio}}\n  aliens: {roots: {work: /mnt/aliens}}")
            .replacingOccurrences(of: "backup: {provider: local_drive, roots: {work: /mnt/backup}}", with: "backup: {provider: local_drive}\n  typo: {provider: local_drive, rots: {work: /x}}")
        let dir = try TemporaryDirectory("import")
        let engine = try SiteSyncStandard.open(SiteSyncEnvironment(catalogLocation: "\(dir.path)/c.sqlite",
            localSettingsPath: "\(dir.path)/l.yaml", siteIDOverride: "ws-admin"), create: true)
        do {
            try await engine.importSettings(yaml: yaml, source: "studio.yaml")
            Issue.record("accepted")
        } catch {
            let text = "\(error)"
            #expect(text.components(separatedBy: "publish_template").count == 2, "\(text)")
            #expect(text.contains("studio.yaml: projects.default.sitesync.publish_template"), "\(text)")
            // The typo and the site without roots are both reported in the same pass.
            #expect(text.contains("sites.typo.rots: unknown key") && text.contains("sites.backup: site 'backup' has no roots"), "\(text)")
        }
    }

    @Test("`project add` and imports at the same moment: no project's roots are lost")
    func concurrentEdits() async throws {
        let dir = try TemporaryDirectory("import")
        let env = SiteSyncEnvironment(catalogLocation: "\(dir.path)/c.sqlite", localSettingsPath: "\(dir.path)/l.yaml", siteIDOverride: "ws-admin")
        let engine = try SiteSyncStandard.open(env, create: true)
        try await engine.importSettings(yaml: Self.good, source: "studio.yaml")
        let added = await withTaskGroup(of: String?.self) { group in
            for i in 0..<12 {
                group.addTask {
                    let other = try? SiteSyncStandard.open(env)
                    do { try await other?.addProject("race\(i)", roots: ["work": "/mnt/race\(i)"]); return "race\(i)" } catch { return nil }
                }
                group.addTask {
                    let other = try? SiteSyncStandard.open(env)
                    _ = try? await other?.importSettings(yaml: Self.good, source: "studio.yaml")
                    return nil
                }
            }
            var names: [String] = []
            for await name in group { if let name { names.append(name) } }
            return names
        }
        #expect(added.count == 12)
        let final = try await engine.studioSettings()
        for name in added {
            #expect(final.projectDefinitions[name]?["roots"]?["work"] == .string("/mnt/\(name)"), "\(name) lost its roots")
        }
    }

    @Test("the good file and the README's example are accepted")
    func accepted() async throws {
        let dir = try TemporaryDirectory("import")
        let env = SiteSyncEnvironment(catalogLocation: "\(dir.path)/catalog.sqlite", localSettingsPath: "\(dir.path)/local.yaml",
                                      siteIDOverride: "ws-admin")
        let engine = try SiteSyncStandard.open(env, create: true)
        let result = try await engine.importSettings(yaml: Self.good, source: "studio.yaml")
        #expect(result.sites == 2 && result.projects == 1)
        // An empty file is allowed when asked for.
        try await engine.importSettings(yaml: "", source: "empty.yaml", replaceAll: true)
        #expect(try await engine.studioSettings().isEmpty)
    }
}
