import Foundation
import Hummingbird
import Logging
import NIOCore
import SiteSyncAPI
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel
import ServiceLifecycle

/// The routes of `/api/v1`: each one engine call, answering with the CLI's `--json` shapes. Actions answer with
/// the representation as `show --json` prints it after the change, and are logged with what they changed.
struct APIRoutes: Sendable {
    let engine: SiteSync!
    let logger: Logger
    var feed: ActivityFeed?
    var health: SiteHealthCache?

    /// Every route as (method, path): what the contract test compares with the OpenAPI document.
    static var table: [(method: String, path: String)] {
        let recorder = RouteTable()
        APIRoutes(engine: nil, logger: Logger(label: "routes")).install(on: Router(context: APIContext.self).group("api/v1"), recording: recorder)
        return recorder.routes
    }

    func install(on group: RouterGroup<APIContext>, recording: RouteTable? = nil) {
        func route(_ method: HTTPRequest.Method, _ path: String,
                   _ handler: @escaping @Sendable (Request, APIContext) async throws -> Response) {
            recording?.routes.append((method.rawValue, "/" + path))
            group.on(RouterPath(path), method: method, use: handler)
        }
        route(.get, "openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
        }
        route(.get, "projects") { _, _ in
            APIResponse.json(ProjectListJSON(try await engine.listProjects()))
        }
        route(.get, "projects/:project/sites") { _, context in
            let project = try context.parameters.require("project")
            var list = SiteListJSON(project: project, sites: try await engine.listSites(project: project))
            if let health {
                let checks = await health.checks(project: project, sites: list.sites.map(\.name))
                for i in list.sites.indices { list.sites[i].health = checks[list.sites[i].name] }
            }
            return APIResponse.json(list)
        }
        route(.get, "activity") { request, _ in
            let (project, recent) = try Self.activityQuery(request.uri.queryParameters)
            return APIResponse.json(try await feed?.snapshot(project: project, recent: recent))
        }
        route(.get, "events") { request, _ in
            let (project, recent) = try Self.activityQuery(request.uri.queryParameters)
            guard let feed else { throw APIRefusal(status: 503, kind: .unavailable, message: "no activity here") }
            // A bad project is a plain error before the stream starts.
            let first = try await feed.snapshot(project: project, recent: recent)
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                             body: .init { writer in
                try await Self.stream(feed, first: first, project: project, recent: recent, into: &writer)
            })
        }
        route(.get, "projects/:project/representations") { request, context in
            let q = try Self.query(project: try context.parameters.require("project"), request.uri.queryParameters)
            return APIResponse.json(RepresentationPageJSON(try await engine.queryRepresentations(q)))
        }
        route(.get, "representations/:id") { _, context in
            APIResponse.json(ShowJSON(try await engine.show(try context.parameters.require("id"))))
        }
        route(.post, "representations/:id/sites/:site") { request, context in
            let (id, site) = (try context.parameters.require("id"), try context.parameters.require("site"))
            let body = try await Self.body(AddSiteBody.self, request, context, empty: AddSiteBody()) ?? AddSiteBody()
            let real = try await engine.addSite(id, site: site, priority: body.priority, force: body.force ?? false)
            logger.notice("api: queued representation \(id) for site \(real)\(body.priority.map { " at priority \($0)" } ?? "")\(body.force == true ? " (forced)" : "")")
            return try await shown(id)
        }
        route(.delete, "representations/:id/sites/:site") { _, context in
            let (id, site) = (try context.parameters.require("id"), try context.parameters.require("site"))
            let removed = try await engine.removeSite(id, site: site, keepFiles: false)
            logger.notice("api: removed site \(site) from representation \(id): \(removed.deletedFiles.count) file(s) deleted")
            return try await shown(id)
        }
        route(.post, "representations/:id/sites/:site/reset") { _, context in
            let (id, site) = (try context.parameters.require("id"), try context.parameters.require("site"))
            let n = try await engine.reset(id, site: site)
            logger.notice("api: reset \(n) file(s) of representation \(id) on site \(site)")
            return try await shown(id)
        }
        route(.put, "representations/:id/priority") { request, context in
            let id = try context.parameters.require("id")
            guard let priority = try await Self.body(PriorityBody.self, request, context, empty: nil)?.priority else {
                throw APIRefusal(status: 400, kind: .invalidInput, message: "send {\"priority\": N}")
            }
            try await engine.setPriority(id, priority)
            logger.notice("api: priority of representation \(id) set to \(priority)")
            return try await shown(id)
        }
        for (path, paused) in [("pause", true), ("resume", false)] {
            route(.post, path) { request, context in
                guard let body = try await Self.body(PauseBody.self, request, context, empty: nil) else {
                    throw APIRefusal(status: 400, kind: .invalidInput, message: "send {\"scope\": \"server\" | \"project\" | \"representation\", \"name\": …}")
                }
                let scope: SiteSync.PauseScope
                switch (body.scope, body.name) {
                case ("server", _): scope = .server
                case ("project", let name?): scope = .project(name)
                case ("representation", let name?): scope = .representation(name)
                default:
                    throw APIRefusal(status: 400, kind: .invalidInput, message: "scope must be server, project (with name) or representation (with name)")
                }
                try await engine.setPaused(scope, paused)
                logger.notice("api: \(paused ? "paused" : "resumed") \(body.scope)\(body.name.map { " \($0)" } ?? "")")
                return APIResponse.json(PauseAnswer(scope: body.scope, name: body.name, paused: paused))
            }
        }
    }

    /// `?project=&recent=` of /activity and /events.
    static func activityQuery(_ p: Parameters) throws -> (String?, Int) {
        var recent = 100
        if let text = p.get("recent") {
            guard let n = Int(text), (0...1000).contains(n) else {
                throw APIRefusal(status: 400, kind: .invalidInput, message: "recent=\(text): give 0 to 1000")
            }
            recent = n
        }
        return (p.get("project"), recent)
    }

    /// Server-Sent Events: the activity once a second. A stream ends after 5 minutes (the browser's EventSource
    /// reconnects at once), when the client goes, or when the server shuts down, so no stream holds a shutdown.
    static func stream(_ feed: ActivityFeed, first: ActivityJSON, project: String?, recent: Int,
                       into writer: inout any ResponseBodyWriter) async throws {
        let end = ContinuousClock.now + .seconds(300)
        var next: ActivityJSON? = first
        while !Task.isCancelled && !Task.isShuttingDownGracefully && ContinuousClock.now < end {
            let update: ActivityJSON
            if let first = next { update = first } else { update = try await feed.snapshot(project: project, recent: recent) }
            next = nil
            let json = try APIJSON.encode(update, pretty: false)
            try await writer.write(ByteBuffer(string: "event: activity\ndata: \(json)\n\n"))
            try? await Task.sleep(for: .seconds(1))
        }
        try await writer.finish(nil)
    }

    func shown(_ id: String) async throws -> Response {
        APIResponse.json(ShowJSON(try await engine.show(id)))
    }

    final class RouteTable: @unchecked Sendable {
        var routes: [(method: String, path: String)] = []
    }

    struct AddSiteBody: Codable, Sendable {
        var priority: Int?
        var force: Bool?
    }
    struct PriorityBody: Codable, Sendable { var priority: Int? }
    struct PauseBody: Codable, Sendable {
        var scope: String
        var name: String?
    }
    struct PauseAnswer: Codable, Sendable {
        var scope: String
        var name: String?
        var paused: Bool
    }

    /// A JSON body, or `empty` when there is none; a body that is not the shape is a 400 naming the fix.
    static func body<T: Decodable & Sendable>(_ type: T.Type, _ request: Request, _ context: APIContext, empty: T?) async throws -> T? {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        if buffer.readableBytes == 0 { return empty }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIRefusal(status: 400, kind: .invalidInput, message: "the request body is not the JSON this call takes: \(error)")
        }
    }

    /// The representation query from `?folder=&product=&name=&version=&site=&status=&q=&sort=&order=&page=&page_size=`.
    static func query(project: String, _ p: Parameters) throws -> RepresentationQuery {
        func int(_ key: String) throws -> Int? {
            guard let text = p.get(key) else { return nil }
            guard let n = Int(text) else { throw APIRefusal(status: 400, kind: .invalidInput, message: "\(key)=\(text): expected a whole number") }
            return n
        }
        var q = RepresentationQuery(project: project, folder: p.get("folder"), product: p.get("product"), name: p.get("name"),
                                    version: try int("version"), site: p.get("site"), text: p.get("q"),
                                    page: try int("page") ?? 1, pageSize: try int("page_size") ?? 50)
        if let status = p.get("status") {
            guard let s = RepresentationSiteStatus(rawValue: status) else {
                throw APIRefusal(status: 400, kind: .invalidInput, message: "status=\(status): one of synced, queued, in_progress, failed, paused, missing, corrupt")
            }
            q.status = s
        }
        if let sort = p.get("sort") {
            guard let s = RepresentationQuery.Sort(rawValue: sort) else {
                throw APIRefusal(status: 400, kind: .invalidInput, message: "sort=\(sort): one of \(RepresentationQuery.Sort.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            q.sort = s
        }
        switch p.get("order") {
        case nil, "asc"?: break
        case "desc"?: q.descending = true
        case let other?: throw APIRefusal(status: 400, kind: .invalidInput, message: "order=\(other ?? ""): asc or desc")
        }
        return q
    }
}
