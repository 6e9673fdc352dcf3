import ArgumentParser
import Foundation
import SiteSyncAPI
import SiteSyncEngine
import SiteSyncModel
import SiteSyncStandard

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init",
        abstract: "Create the catalog and this machine's local settings (site id).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let location = global.environment.catalogLocation
            let file = CatalogLocation.filePath(location)
            let existed = file.map { FileManager.default.fileExists(atPath: $0) } ?? true
            let engine = try global.open(create: true)
            // A database catalog connects and creates its schema on first use: do it now, so a wrong URL or
            // password is reported by init, not by the first publish.
            _ = try await engine.catalog.projects()
            let state = file == nil ? " (schema ready)" : existed ? " (already there)" : " (created)"
            print("catalog: \(CatalogLocation.redacted(location))\(state)")
            // With SITESYNC_SITE_ID set nothing is written there yet: say so rather than name a file that is not there.
            let written = FileManager.default.fileExists(atPath: engine.localStore.path)
            print("local settings: \(engine.localStore.path)\(written ? "" : " (not written: the site id comes from SITESYNC_SITE_ID; `sitesync local set` writes the file)")")
            print("site id: \(engine.siteID)\(global.environment.siteIDOverride == nil ? "" : " (from SITESYNC_SITE_ID)")")
        }
    }
}

struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "settings", abstract: "Studio settings.",
        subcommands: [Import.self, Export.self, Show.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the studio settings with a YAML file (checked whole first: nothing is stored if any key is wrong).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The studio settings YAML file.") var file: String
        @Flag(name: .customLong("replace-all"),
              help: "Accept an empty file, or one that drops roots or enabled flags projects have now.")
        var replaceAll = false

        func run() async throws {
            try await reportingErrors {
                let engine = try global.open()
                let text = try readSettingsFile(file)
                let result = try await engine.importSettings(yaml: text, source: file, replaceAll: replaceAll)
                for w in result.warnings { FileHandle.standardError.write(Data("sitesync: warning: \(w)\n".utf8)) }
                print("imported \(file): \(result.sites) site(s), \(result.projects) project(s)")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the studio settings as YAML (secrets as *** unless asked).")
        @OptionGroup var global: GlobalOptions
        @Flag(name: .customLong("include-secrets"), help: "Print passwords and passphrases as they are stored.")
        var includeSecrets = false
        func run() async throws {
            try await reportingErrors {
                print(try await global.open().exportSettings(includeSecrets: includeSecrets), terminator: "")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the effective settings on this machine (secrets hidden).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this project.") var project: String?
        @Flag(help: "Print JSON instead of text (the shapes in the README's `--json` section).") var json = false
        func run() async throws {
            try await reportingErrors {
                let settings = try await global.open().effectiveSettings(project: project)
                if json { try printJSON(settings) } else { print(settings.yamlText(), terminator: "") }
            }
        }
    }
}

struct SiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "site", abstract: "Sites.",
        subcommands: [List.self, ID.self, Check.self, Providers.self])

    struct Providers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the providers this build has and the keys each site of theirs takes.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await reportingErrors {
                let registry = StandardProviders.registry
                for name in registry.providerNames {
                    guard let d = registry.description(of: name) else { continue }
                    print("\(name): \(d.summary)")
                    if !d.capabilities.names.isEmpty { print("  can: \(d.capabilities.names.joined(separator: ", "))") }
                    print("  default concurrency: \(d.defaultConcurrency)")
                    for spec in d.schema.allOptions {
                        var flags: [String] = [spec.type.rawValue]
                        if spec.required { flags.append("required") }
                        if let value = spec.defaultValue { flags.append("default \(value)") }
                        if spec.secret { flags.append("secret") }
                        print("  \(spec.key.padding(toLength: 22, withPad: " ", startingAt: 0)) \(flags.joined(separator: ", ")): \(spec.help)")
                    }
                    for group in d.schema.exactlyOneOf { print("  exactly one of: \(group.joined(separator: ", "))") }
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the sites a project can use.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The project (default: the only one, else the `default` settings).") var project: String?
        @Flag(help: "Print JSON instead of text (the shapes in the README's `--json` section).") var json = false
        func run() async throws {
            try await reportingErrors {
                let engine = try global.open()
                let sites = try await engine.listSites(project: project)
                if json {
                    try printJSON(SiteListJSON(project: try await engine.defaultProjectName(project), sites: sites))
                    return
                }
                for site in sites {
                    let roots = site.rootPaths.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    var line = "\(site.config.name)\t\(site.config.provider)\t\(roots.isEmpty ? "-" : roots)"
                    if !site.alternates.isEmpty { line += "\talternates: \(site.alternates.joined(separator: ","))" }
                    if !site.roles.isEmpty { line += "\t(\(site.roles.joined(separator: ", ")))" }
                    if !site.config.enabled { line += "\tdisabled" }
                    let can = site.capabilities.names
                    line += "\tcan: \(can.isEmpty ? "upload, download, delete" : can.joined(separator: ", "))"
                    print(line)
                }
            }
        }
    }

    struct ID: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "id", abstract: "Print this machine's site id.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await reportingErrors {
                let env = global.environment
                print(try LocalSettingsStore(path: env.localSettingsPath).siteID(override: env.siteIDOverride))
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check that a site works: reachable, roots exist and are writable.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The site (`local` for this machine's).") var name: String
        @Option(help: "The project whose settings to use.") var project: String?
        func run() async throws {
            try await reportingErrors {
                let lines = try await global.open().checkSite(name, project: project)
                for line in lines { print(line) }
                print("site \(name): OK")
            }
        }
    }
}

struct LocalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "local", abstract: "This machine's settings.",
        subcommands: [Show.self, Set.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print this machine's local settings.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await reportingErrors {
                let env = global.environment
                let store = LocalSettingsStore(path: env.localSettingsPath)
                var settings = try store.load()
                settings.siteID = try store.siteID(override: env.siteIDOverride)
                print("# \(store.path)")
                print(settings.yamlText(), terminator: "")
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change this machine's roots or active/remote site.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only for this project (default: for every project).") var project: String?
        @Option(name: .customLong("root"), help: "NAME=PATH of this machine's site; repeatable.") var roots: [String] = []
        @Option(name: .customLong("active-site"), help: "The site this machine works on (`local` for its own).") var activeSite: String?
        @Option(name: .customLong("remote-site"), help: "The site it syncs with.") var remoteSite: String?
        func run() async throws {
            try await reportingErrors {
                let engine = try global.open()
                let notes = try await engine.setLocalChecked(project: project, roots: try parseRoots(roots),
                                                             activeSite: activeSite, remoteSite: remoteSite)
                for note in notes { print(note) }
                print("saved \(engine.localStore.path)")
            }
        }
    }
}

struct ProjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "project", abstract: "Projects.",
        subcommands: [Add.self, List.self, Enable.self, Disable.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project (its roots are the studio site's).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The project's name.") var name: String
        @Option(name: .customLong("root"), help: "NAME=PATH of the project's studio root; repeatable.") var roots: [String] = []
        func run() async throws {
            try await reportingErrors {
                try await global.open().addProject(name, roots: try parseRoots(roots))
                print("project \(name) added")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON instead of text (the shapes in the README's `--json` section).") var json = false
        func run() async throws {
            try await reportingErrors {
                let projects = try await global.open().listProjects()
                if json { try printJSON(ProjectListJSON(projects)); return }
                for p in projects {
                    let state = !p.enabled ? "disabled" : (p.paused ? "paused" : "enabled")
                    print("\(p.name)\t\(state)\tactive=\(p.activeSite)\tremote=\(p.remoteSite)")
                }
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Turn Site Sync on for a project.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The project's name.") var name: String
        func run() async throws {
            try await reportingErrors {
                let engine = try global.open()
                try await engine.setProjectEnabled(name, true)
                print("project \(name) enabled")
                if !(try await engine.studioSettings().enabled) {
                    FileHandle.standardError.write(Data("sitesync: warning: Site Sync is off for the whole studio (`enabled: false` at the top of the studio settings): the project stays off until that is true\n".utf8))
                }
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Turn Site Sync off for a project (everyone works on studio).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The project's name.") var name: String
        func run() async throws {
            try await reportingErrors {
                try await global.open().setProjectEnabled(name, false)
                print("project \(name) disabled")
            }
        }
    }
}

/// A settings file's text, or one line saying why it cannot be read.
func readSettingsFile(_ file: String) throws -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
        throw SiteSyncError(.notFound, "\(file) does not exist; give the studio settings YAML file (e.g. studio.yaml)")
    }
    if isDirectory.boolValue {
        throw SiteSyncError(.invalidInput, "\(file) is a folder; give the studio settings YAML file inside it (e.g. \(file)/studio.yaml)")
    }
    do {
        return try String(contentsOfFile: file, encoding: .utf8)
    } catch {
        throw SiteSyncError(.invalidInput, "cannot read \(file) as UTF-8 text: \(error.localizedDescription)")
    }
}
