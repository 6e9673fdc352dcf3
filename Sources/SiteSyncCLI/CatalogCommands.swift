import ArgumentParser
import Foundation
import SiteSyncAPI
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import SiteSyncStandard

/// `sitesync catalog check|copy`: an administrator's view of the whole catalog, and moving a studio to PostgreSQL.
struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "catalog", abstract: "The catalog as a whole: its health, and copying it to another database.",
        subcommands: [Check.self, Copy.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report the catalog's schema version, what it holds, every site's files by state, and running and expired leases.",
            discussion: "Reads every file × site row once: seconds on a catalog of millions of rows. Changes nothing.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print the report as JSON (the README documents the keys).") var json = false

        func run() async throws {
            try await reportingErrors {
                CLILogging.bootstrap(global.verbose ? .debug : .warning)
                let location = global.environment.catalogLocation
                let report = try await CatalogAdmin.check(try StandardCatalogs.open(location, create: false), now: Date())
                let shown = CatalogLocation.redacted(location)
                if json { try printJSON(CatalogCheckJSON(location: shown, report)); return }
                print(Self.lines(location: shown, report).joined(separator: "\n"))
            }
        }

        static func lines(location: String, _ r: CatalogReport) -> [String] {
            var out = ["catalog: \(location) (\(r.kind), schema \(r.schemaVersion); this build writes \(r.buildSchemaVersion))"]
            out.append("holds: \(r.projects) project(s), \(r.representations) representation(s), \(r.files) file(s); studio settings \(r.hasSettings ? "imported" : "not imported yet")\(r.serverPaused ? "; servers PAUSED (sitesync resume)" : "")")
            let states = FileSyncStatus.allCases
            let width = max(12, (r.states.keys.map(\.count).max() ?? 0) + 2)
            if r.states.isEmpty {
                out.append("no file × site rows yet")
            } else {
                out.append("site".padding(toLength: width, withPad: " ", startingAt: 0)
                           + states.map { $0.rawValue.leftPadded(12) }.joined())
                for site in r.states.keys.sorted() {
                    let counts = r.states[site] ?? [:]
                    out.append(site.padding(toLength: width, withPad: " ", startingAt: 0)
                               + states.map { String(counts[$0] ?? 0).leftPadded(12) }.joined())
                }
            }
            var leases = "leases: \(r.runningLeases) running"
            if !r.leaseOwners.isEmpty { leases += " (held by \(r.leaseOwners.prefix(5).joined(separator: ", "))\(r.leaseOwners.count > 5 ? ", …" : ""))" }
            leases += ", \(r.expiredLeases) expired"
            if r.expiredLeases > 0 { leases += " (a server stopped without giving them back; the next running server queues them again)" }
            out.append(leases)
            return out
        }
    }

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a whole catalog into a new, empty one (e.g. a studio's SQLite catalog into PostgreSQL).",
            discussion: """
                Copies the studio settings, projects, pause flags, representations, files and every file × site state \
                (tries, errors, verification times), then checks that the target counts what the source had. Stop \
                the sync servers using the source first: a copy is refused while one holds a running transfer. The \
                source is never changed; a target that holds anything is refused. Afterwards point every machine at \
                the target (--catalog or SITESYNC_CATALOG). Only servers running a transfer are noticed: stop idle \
                ones too, or they keep working on the old catalog.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The catalog to copy (default: --catalog, SITESYNC_CATALOG or the default SQLite file).") var from: String?
        @Option(help: "The new catalog: a postgres:// URL or a file path; its schema is created if it has none.") var to: String
        @Flag(help: "Print what was copied as JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                CLILogging.bootstrap(global.verbose ? .debug : .warning)
                let sourceLocation = from ?? global.environment.catalogLocation
                let shownFrom = CatalogLocation.redacted(sourceLocation), shownTo = CatalogLocation.redacted(to)
                if sourceLocation == to || CatalogLocation.filePath(sourceLocation).map({ path in
                    CatalogLocation.filePath(to).map { URL(fileURLWithPath: $0).standardized == URL(fileURLWithPath: path).standardized } ?? false
                }) == true {
                    throw SiteSyncError(.invalidInput, "--from and --to name the same catalog (\(shownTo)); copy into a new, empty one")
                }
                let source: any Catalog
                do {
                    source = try StandardCatalogs.open(sourceLocation, create: false)
                } catch let e as CatalogError where e.errorKind == .notFound {
                    throw SiteSyncError(.notFound, "the catalog to copy (--from \(shownFrom)) does not exist or holds no SiteSync catalog: \(e)")
                }
                // The source is checked before the target is created: a refused copy leaves nothing behind.
                let checked = try await CatalogAdmin.checkCopySource(source, now: Date())
                let target = try StandardCatalogs.open(to, create: true)
                let tty = isatty(2) == 1
                let result = try await CatalogAdmin.copy(from: source, to: target, now: Date(), checkedSource: checked) { done, total in
                    if tty { FileHandle.standardError.write(Data("\rcopied \(done) of \(total) representation(s)…".utf8)) }
                }
                if tty { FileHandle.standardError.write(Data("\n".utf8)) }
                if json { try printJSON(CatalogCopyJSON(from: shownFrom, to: shownTo, result)); return }
                print("copied \(shownFrom) → \(shownTo): \(result.projects) project(s), \(result.representations) representation(s), \(result.files) file(s), \(result.states) file × site state(s); counts checked")
                if result.requeued > 0 {
                    print("\(result.requeued) transfer(s) left in progress by a stopped server are queued again in the new catalog")
                }
                print("next: point every machine at the new catalog (--catalog or SITESYNC_CATALOG) and start the servers")
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}
