import ArgumentParser
import Foundation
import SiteSyncAPI
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "publish",
        abstract: "Publish files as a representation; prints its id.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "The project.") var project: String
    @Option(help: "Folder (asset or shot) path, e.g. chars/anna.") var folder: String
    @Option(help: "Product name, e.g. modelMain, workfileAnimation.") var product: String
    @Option(help: "Version number, 1 or more.") var version: Int
    @Option(help: "Representation name, e.g. ma, abc, exr.") var name: String
    @Option(help: "The task it was made in, e.g. modeling (work files are found by task).") var task: String?
    @Option(help: "The application it was made with, e.g. maya, nuke.") var host: String?
    @Option(name: .customLong("product-type"), help: "workfile, model, render, … (default: workfile for a product named workfile…, else the product)")
    var productType: String?
    @Option(name: .customLong("input"), help: "Id of a representation this one was made from; repeatable.") var inputs: [String] = []
    @Option(help: "Priority of its transfers (higher first).") var priority: Int = 50
    @Flag(help: "Print a JSON object instead of the id.") var json = false
    @Argument(help: "The files.") var files: [String]

    func run() async throws {
        try await reportingErrors {
            let engine = try global.open()
            let context = RepresentationContext(project: project, folder: folder, product: product, version: version,
                                                name: name, task: task, host: host, productType: productType)
            let result = try await engine.publish(context, files: files, inputs: inputs, priority: priority)

            if json {
                try printJSON(PublishJSON(result))
            } else {
                print(result.representation.id)
            }
        }
    }
}

struct AddSiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-site", abstract: "Queue a representation for a site.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Representation id.") var id: String
    @Option(help: "The site (`local` for this machine's).") var site: String
    @Option(help: "Transfer priority: higher goes first (default 50; negative numbers allowed).") var priority: Int?
    @Flag(help: "Queue it again even if the site already has it.") var force = false
    func run() async throws {
        try await reportingErrors {
            let real = try await global.open().addSite(id, site: site, priority: priority, force: force)
            print("queued \(id) for \(real)")
        }
    }
}

struct DownloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "download",
        abstract: "Queue a representation (and the ones it was made from) for this machine's active site.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Representation id.") var id: String
    @Option(help: "Transfer priority: higher goes first (default 50; negative numbers allowed).") var priority: Int?
    func run() async throws {
        try await reportingErrors {
            let (site, queued) = try await global.open().download(id, priority: priority)
            if queued.isEmpty {
                print("\(id) is already on \(site)")
            }
            for q in queued { print("queued \(q) for \(site)") }
        }
    }
}

struct RemoveSiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove-site",
        abstract: "Delete a site's copy of a representation (never the last synced copy).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Representation id.") var id: String
    @Option(help: "The site whose copy is deleted (`local` for this machine's).") var site: String
    @Flag(name: .customLong("keep-files"), help: "Only forget the copy in the catalog; delete no file.") var keepFiles = false
    @Flag(help: "Hash the copies relied on before deleting (default: check they exist with the right size).") var verify = false
    func run() async throws {
        try await reportingErrors {
            let result = try await global.open().removeSite(id, site: site, keepFiles: keepFiles, verify: verify)
            print("removed \(id) from \(result.removedSites.joined(separator: ", ")); deleted \(result.deletedFiles.count) file(s)")
            if !result.undeletable.isEmpty {
                for line in result.undeletable {
                    FileHandle.standardError.write(Data("sitesync: warning: could not delete \(line)\n".utf8))
                }
                throw ExitCode(1)
            }
        }
    }
}

struct ResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reset",
        abstract: "Queue a representation's files on a site again (clears tries and errors).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Representation id.") var id: String
    @Option(help: "The site to queue again (`local` for this machine's).") var site: String
    func run() async throws {
        try await reportingErrors {
            let n = try await global.open().reset(id, site: site)
            print("reset \(n) file(s) of \(id) on \(site)")
        }
    }
}

struct PriorityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "priority",
        abstract: "Set a representation's transfer priority (default 50; higher goes first).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Representation id.") var id: String
    @Argument(help: "The priority: higher goes first (default 50; negative numbers allowed).") var priority: Int
    func run() async throws {
        try await reportingErrors {
            try await global.open().setPriority(id, priority)
            print("priority of \(id) is \(priority)")
        }
    }
}

struct PauseScopeOptions: ParsableArguments {
    @Option(help: "Only this project.") var project: String?
    @Option(help: "Only this representation.") var representation: String?

    func scope() throws -> SiteSync.PauseScope {
        switch (project, representation) {
        case (nil, nil): return .server
        case (let p?, nil): return .project(p)
        case (nil, let r?): return .representation(r)
        default: throw SiteSyncError(.invalidInput, "give --project or --representation, not both")
        }
    }

    var label: String {
        project.map { "project \($0)" } ?? representation.map { "representation \($0)" } ?? "server"
    }

    func apply(_ paused: Bool, _ global: GlobalOptions) async throws {
        try await reportingErrors {
            try await global.open().setPaused(try scope(), paused)
            print("\(paused ? "paused" : "resumed") \(label)")
        }
    }
}

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause",
        abstract: "Pause syncing: everything, a project or a representation (kept across restarts).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var scope: PauseScopeOptions
    func run() async throws { try await scope.apply(true, global) }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume what `pause` paused.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var scope: PauseScopeOptions
    func run() async throws { try await scope.apply(false, global) }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Representations and their state per site.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this project (default: the default project).") var project: String?
    @Option(help: "Only representations that have this site.") var site: String?
    @Option(help: "At most this many representations (in project, folder, product, version order).") var limit: Int?
    @Option(help: "Only this folder, e.g. chars/anna.") var folder: String?
    @Option(help: "Only this product, e.g. modelMain.") var product: String?
    @Option(help: "Only this representation name, e.g. abc.") var name: String?
    @Option(help: "Only this version.") var version: Int?
    @Option(help: "Only representations in this state on --site: synced, queued, in_progress, failed, paused, missing, corrupt.")
    var status: String?
    @Option(help: "Only representations whose folder, product or name contains this text (any case).") var search: String?
    @Option(help: "Sort by folder, product, version, created, size or priority (default folder).") var sort: String?
    @Option(help: "asc or desc (default asc).") var order: String?
    @Option(help: "Show this page (from 1) of --page-size representations, with the total: the HTTP API's page.") var page: Int?
    @Option(name: .customLong("page-size"), help: "Representations per page, 1 to 500 (default 50).") var pageSize: Int?
    @Flag(help: "Print JSON instead of text (the shapes in the README's `--json` section).") var json = false

    /// Any of the filters, sorting or paging: one page through the same query as the HTTP API.
    var query: RepresentationQuery? {
        get throws {
            guard folder != nil || product != nil || name != nil || version != nil || status != nil || search != nil
                    || sort != nil || order != nil || page != nil || pageSize != nil else { return nil }
            var q = RepresentationQuery(project: project ?? "", folder: folder, product: product, name: name, version: version,
                                        site: site, text: search, page: page ?? 1, pageSize: pageSize ?? 50)
            if let status {
                guard let s = RepresentationSiteStatus(rawValue: status) else {
                    throw SiteSyncError(.invalidInput, "--status \(status): give one of synced, queued, in_progress, failed, paused, missing, corrupt")
                }
                q.status = s
            }
            if let sort {
                guard let s = RepresentationQuery.Sort(rawValue: sort) else {
                    throw SiteSyncError(.invalidInput, "--sort \(sort): give one of \(RepresentationQuery.Sort.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                q.sort = s
            }
            switch order {
            case nil, "asc"?: break
            case "desc"?: q.descending = true
            case let other?: throw SiteSyncError(.invalidInput, "--order \(other): give asc or desc")
            }
            return q
        }
    }

    func run() async throws {
        try await reportingErrors {
            if let limit, limit < 1 { throw SiteSyncError(.invalidInput, "--limit must be at least 1") }
            if let q = try query {
                if limit != nil { throw SiteSyncError(.invalidInput, "--limit goes with the plain listing; with filters or --page use --page-size") }
                let result = try await global.open().queryRepresentations(q)
                if json {
                    try printJSON(RepresentationPageJSON(result))
                    return
                }
                for s in result.items { print(Self.lines(s).joined(separator: "\n")) }
                let pages = max(1, (result.total + result.pageSize - 1) / result.pageSize)
                print("page \(result.page) of \(pages): \(result.items.count) of \(result.total) representation(s)")
                return
            }
            let engine = try global.open()
            // Printed page by page as the catalog answers: a project of 250,000 representations starts at once
            // and never sits in memory whole.
            var count = 0
            if json { print("{\"representations\": [") }
            try await engine.status(project: project, site: site, limit: limit) { page in
                for s in page {
                    if json {
                        print((count == 0 ? "" : ",\n") + (try APIJSON.encode(RepresentationSummaryJSON(s), pretty: false)), terminator: "")
                    } else {
                        print(Self.lines(s).joined(separator: "\n"))
                    }
                    count += 1
                }
                fflush(nil)
            }
            if json { print("\n]}") } else if count == 0 { print("no representations") }
        }
    }

    static func lines(_ s: RepresentationSummary) -> [String] {
        let c = s.representation.context
        var out = ["\(s.representation.id)  \(c.project)/\(c.folder)/\(c.product) v\(String(format: "%03d", c.version)) \(c.name)  \(s.fileCount) file(s) \(ByteCount.format(s.totalBytes))\(s.representation.paused ? "  [paused]" : "")"]
        for site in s.sites {
            let synced = site.counts[.synced] ?? 0
            var line = "    \(site.site.padding(toLength: max(12, site.site.count), withPad: " ", startingAt: 0))  \(site.status.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))  \(synced)/\(s.fileCount)"
            if site.status != .synced, let err = site.lastError { line += "  last error: \(err)" }
            out.append(line)
        }
        return out
    }
}

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "A representation's files and their state per site.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Representation id.") var id: String
    @Flag(help: "Print JSON instead of text (the shapes in the README's `--json` section).") var json = false
    func run() async throws {
        try await reportingErrors {
            let detail = try await global.open().show(id)
            if json {
                try printJSON(ShowJSON(detail))
                return
            }
            print(ShowText.lines(detail).joined(separator: "\n"))
        }
    }
}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify",
        abstract: "Read copies back and record which are really there (missing or corrupt ones stop being copies).",
        discussion: "Exits 0 when every copy checked is good, 1 when some are missing or corrupt, 5 when a site could not be read.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this site's copies (`local` for this machine's).") var site: String?
    @Option(help: "Only this project.") var project: String?
    @Option(help: "Only this representation.") var representation: String?
    @Option(help: "Only this share of the copies, those verified longest ago first, e.g. 10%.") var sample: String?
    @Flag(help: "Queue missing and corrupt copies again, to be healed from a good copy.") var fix = false
    @Flag(help: "Print JSON instead of text (the shapes in the README's `--json` section).") var json = false

    func run() async throws {
        try await reportingErrors {
            var percent: Double?
            if let sample {
                let text = sample.hasSuffix("%") ? String(sample.dropLast()) : sample
                guard let value = Double(text) else {
                    throw SiteSyncError(.invalidInput, "--sample \(sample): give a share like 10%")
                }
                percent = value
            }
            let report = try await global.open().verify(SiteSync.VerifyOptions(
                site: site, project: project, representation: representation, samplePercent: percent, fix: fix))
            if json {
                try printJSON(VerifyJSON(report))
            } else {
                print("checked \(report.checked) cop\(report.checked == 1 ? "y" : "ies"): \(report.good) good, \(report.missing.count) missing, \(report.corrupt.count) corrupt")
                for line in report.missing { print("missing: \(line)") }
                for line in report.corrupt { print("corrupt: \(line)") }
                for (site, why) in report.skipped.sorted(by: { $0.key < $1.key }) { print("not checked: \(site): \(why)") }
                if fix { print("queued \(report.requeued) cop\(report.requeued == 1 ? "y" : "ies") again") }
            }
            if !report.missing.isEmpty || !report.corrupt.isEmpty { throw ExitCode(ErrorKind.internal.exitCode) }
            if !report.skipped.isEmpty { throw ExitCode(ErrorKind.unavailable.exitCode) }
        }
    }
}

/// Draws "waiting: 3/12 files, 1.2 MiB of 40 MiB" on a terminal.
enum WaitLine {
    static func handler() -> @Sendable (SiteSync.EnsureProgress) -> Void {
        guard isatty(2) == 1 else { return { _ in } }
        return { p in
            let line = "\r\u{1B}[K[sitesync] \(p.filesSynced)/\(p.files) file(s), \(ByteCount.format(p.bytesSynced)) of \(ByteCount.format(p.bytes))"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    static func clear() {
        if isatty(2) == 1 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

struct EnsureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ensure",
        abstract: "Make representations (and those they were made from) available on this machine, verified, and wait.",
        discussion: "Transfers run in this process when no server picks them up within a second. Exits 0 when all are synced, 1 when one failed, 6 when --wait ran out.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Representation ids.") var ids: [String]
    @Option(help: "Seconds to wait at most.") var wait: Double = 600
    @Flag(help: "Print JSON instead of text (the shapes in the README's `--json` section).") var json = false

    func run() async throws {
        try await reportingErrors {
            let report = try await global.open().ensure(ids, wait: wait, progress: WaitLine.handler())
            WaitLine.clear()
            if json {
                try printJSON(EnsureJSON(report))
            } else {
                for entry in report.entries {
                    print("\(entry.id)  \(entry.outcome.rawValue)\(entry.reason.map { "  \($0)" } ?? "")")
                }
            }
            if !report.failed.isEmpty { throw ExitCode(ErrorKind.internal.exitCode) }
            if !report.pending.isEmpty { throw ExitCode(ErrorKind.timedOut.exitCode) }
        }
    }
}

struct WorkfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workfile",
        abstract: "The work file for a task on this machine: the existing one, or the last published one as the next version.",
        discussion: "Exits 0 with the file (created or existing), 3 when nothing was ever published for the task, 6 when --wait ran out, 1 when a transfer failed.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "The project.") var project: String
    @Option(help: "Folder (asset or shot) path, e.g. chars/anna.") var folder: String
    @Option(help: "The task, e.g. modeling.") var task: String
    @Option(help: "The application, e.g. maya, nuke (the work file's extension follows from it).") var host: String?
    @Option(help: "Seconds to wait at most for the transfers.") var wait: Double = 600
    @Flag(help: "Print JSON instead of text (the shapes in the README's `--json` section).") var json = false

    func run() async throws {
        try await reportingErrors {
            let result = try await global.open().workfile(project: project, folder: folder, task: task, host: host,
                                                          wait: wait, progress: WaitLine.handler())
            WaitLine.clear()
            if json {
                try printJSON(WorkfileJSON(result))
            } else {
                switch result.action {
                case .existing: print(result.path ?? "")
                case .created: print(result.path ?? "")
                case .none: break
                }
            }
            if result.action == .none {
                if !json {
                    FileHandle.standardError.write(Data("sitesync: no workfile was published for \(project)/\(folder) task \(task)\(host.map { " host \($0)" } ?? "")\n".utf8))
                }
                throw ExitCode(ErrorKind.notFound.exitCode)
            }
        }
    }
}
