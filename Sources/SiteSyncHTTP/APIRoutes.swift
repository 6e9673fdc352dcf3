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
    var tokensRequired = false

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
        route(.get, "access") { _, context in
            // What the caller's token allows: the page shows actions only to those who may take them.
            APIResponse.json(AccessAnswer(access: context.access == .full ? "full" : "read", tokensRequired: tokensRequired))
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
            return APIResponse.json(try await liveFeed().snapshot(project: project, recent: recent))
        }
        route(.get, "events") { request, _ in
            let (project, recent) = try Self.activityQuery(request.uri.queryParameters)
            let feed = try liveFeed()
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
            let (id, site) = (try await full(context), try context.parameters.require("site"))
            let body = try await Self.body(AddSiteBody.self, request, context, empty: AddSiteBody(), fields: ["priority", "force"]) ?? AddSiteBody()
            let real = try await engine.addSite(id, site: site, priority: body.priority, force: body.force ?? false)
            logger.notice("api: queued representation \(id) for site \(real)\(body.priority.map { " at priority \($0)" } ?? "")\(body.force == true ? " (forced)" : "")")
            return try await shown(id)
        }
        route(.delete, "representations/:id/sites/:site") { _, context in
            let (id, site) = (try await full(context), try context.parameters.require("site"))
            let removed = try await engine.removeSite(id, site: site, keepFiles: false)
            logger.notice("api: removed site \(site) from representation \(id): \(removed.deletedFiles.count) file(s) deleted")
            return try await shown(id)
        }
        route(.post, "representations/:id/sites/:site/reset") { _, context in
            let (id, site) = (try await full(context), try context.parameters.require("site"))
            let n = try await engine.reset(id, site: site)
            logger.notice("api: reset \(n) file(s) of representation \(id) on site \(site)")
            return try await shown(id)
        }
        route(.put, "representations/:id/priority") { request, context in
            let id = try await full(context)
            guard let priority = try await Self.body(PriorityBody.self, request, context, empty: nil, fields: ["priority"])?.priority else {
                throw APIRefusal(status: 400, kind: .invalidInput, message: "send {\"priority\": N}")
            }
            try await engine.setPriority(id, priority)
            logger.notice("api: priority of representation \(id) set to \(priority)")
            return try await shown(id)
        }
        for (path, paused) in [("pause", true), ("resume", false)] {
            route(.post, path) { request, context in
                guard let body = try await Self.body(PauseBody.self, request, context, empty: nil, fields: ["scope", "name"]) else {
                    throw APIRefusal(status: 400, kind: .invalidInput, message: "send {\"scope\": \"server\" | \"project\" | \"representation\", \"name\": …}")
                }
                let scope: SiteSync.PauseScope
                switch (body.scope, body.name) {
                case ("server", nil): scope = .server
                case ("server", _?):
                    throw APIRefusal(status: 400, kind: .invalidInput, message: "scope server takes no name (it pauses every project); for one project send {\"scope\": \"project\", \"name\": …}")
                case ("project", let name?): scope = .project(name)
                case ("representation", let name?): scope = .representation(try await engine.resolveRepresentationID(name))
                default:
                    throw APIRefusal(status: 400, kind: .invalidInput, message: "scope must be server, project (with name) or representation (with name)")
                }
                try await engine.setPaused(scope, paused)
                var name = body.name
                if case .representation(let id) = scope { name = id }
                logger.notice("api: \(paused ? "paused" : "resumed") \(body.scope)\(name.map { " \($0)" } ?? "")")
                return APIResponse.json(PauseAnswer(scope: body.scope, name: name, paused: paused))
            }
        }
    }

    /// The activity source (absent only from the route table the contract test reads).
    func liveFeed() throws -> ActivityFeed {
        guard let feed else { throw APIRefusal(status: 503, kind: .unavailable, message: "no activity here") }
        return feed
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

    /// The `:id` of the path as the full id (a prefix of 8+ characters is resolved), for answers and the log.
    func full(_ context: APIContext) async throws -> String {
        try await engine.resolveRepresentationID(try context.parameters.require("id"))
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
    struct AccessAnswer: Codable, Sendable {
        var access: String
        var tokensRequired: Bool
        enum CodingKeys: String, CodingKey {
            case access
            case tokensRequired = "tokens_required"
        }
    }
    struct PauseAnswer: Codable, Sendable {
        var scope: String
        var name: String?
        var paused: Bool
    }

    /// A JSON body, or `empty` when there is none; a body that is not the shape is a 400 naming the fix.
    static func body<T: Decodable & Sendable>(_ type: T.Type, _ request: Request, _ context: APIContext, empty: T?,
                                              fields: Set<String>) async throws -> T? {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 64 << 10)
        } catch {
            throw APIRefusal(status: 413, kind: .invalidInput, message: "the request body is larger than 64 KiB; these calls take a few fields of JSON")
        }
        if buffer.readableBytes == 0 { return empty }
        // A misspelt field would otherwise be dropped without a word (`priorty` leaving the default priority).
        if let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] {
            let unknown = Set(object.keys).subtracting(fields).sorted()
            if !unknown.isEmpty {
                throw APIRefusal(status: 400, kind: .invalidInput, message: "the request body: unknown field\(unknown.count == 1 ? "" : "s") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); this call takes \(fields.sorted().map { "'\($0)'" }.joined(separator: ", "))")
            }
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIRefusal(status: 400, kind: .invalidInput, message: "the request body: \(Self.describe(error))")
        } catch {
            throw APIRefusal(status: 400, kind: .invalidInput, message: "the request body is not JSON")
        }
    }

    /// A decoding error in the words of the request: the field and what it should be.
    static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "the body" : "'" + path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") + "'"
        }
        func name(_ type: Any.Type) -> String {
            switch type {
            case is Int.Type: return "a whole number"
            case is Bool.Type: return "true or false"
            case is String.Type: return "a string"
            default: return "an object"
            }
        }
        switch error {
        case .typeMismatch(let type, let c): return "\(field(c.codingPath)) must be \(name(type))"
        case .valueNotFound(let type, let c): return "\(field(c.codingPath)) must be \(name(type)), not null"
        case .keyNotFound(let key, let c): return "\(field(c.codingPath + [key])) is missing"
        case .dataCorrupted(let c):
            if !c.codingPath.isEmpty {
                return "\(field(c.codingPath)) is not a value it takes (a whole number of at most 64 bits, true or false, or text)"
            }
            // Foundation reports a number that fits no field (1.5, 1e30 for a whole number) as invalid JSON, without
            // its path: say both.
            return "not valid JSON, or a number that is not a whole number of at most 64 bits"
        @unknown default: return "not the JSON this call takes"
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
