import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOFoundationCompat
import ServiceLifecycle
import SiteSyncEngine
import SiteSyncHTTP
import SiteSyncModel
import SiteSyncStandard
import SiteSyncTestSupport
import Testing

/// A studio with three published representations and the API in front of it, on a free loopback port.
final class APIFixture: @unchecked Sendable {
    let dir: TemporaryDirectory
    let engine: SiteSync
    var ids: [String] = []
    var base = ""
    var root = ""
    private var task: Task<Void, any Error>?
    static let full = "full-token-0123456789abcdef"
    static let read = "read-token-0123456789abcdef"

    var server: SyncServer?
    let metrics = APIMetrics()

    /// `serve`: a sync server runs beside the API, as `server --listen` does; `backupLimit` throttles the backup
    /// site (bytes/s) so a transfer can be watched; `sizes`: the three files' sizes.
    init(tokens: APITokens = APITokens(full: APIFixture.full, read: APIFixture.read), serve: Bool = false,
         backupLimit: String? = nil, sizes: [Int] = [1000, 2000, 3000]) async throws {
        dir = try TemporaryDirectory("api")
        let env = SiteSyncEnvironment(catalogLocation: "\(dir.path)/catalog.sqlite", localSettingsPath: "\(dir.path)/local.yaml",
                                      siteIDOverride: "ws-anna", pollInterval: 0.05)
        engine = try SiteSyncStandard.open(env, create: true, metrics: metrics.sync)
        try await engine.importSettings(yaml: """
            sites:
              backup: {provider: local_drive, roots: {work: \(try dir.sub("backup"))}\(backupLimit.map { ", bandwidth_limit: \($0)" } ?? "")}
            projects:
              default: {sitesync: {active_site: studio, remote_site: studio, always_accessible_on: [backup]}}
              robots: {roots: {work: \(try dir.sub("studio"))}}
            """, source: "test")
        for (i, folder) in ["chars/anna", "chars/bob", "shots/sh010"].enumerated() {
            let file = try dir.file("src/\(i).ma", size: sizes[i], seed: UInt64(i + 1))
            let r = try await engine.publish(RepresentationContext(project: "robots", folder: folder, product: "modelMain",
                                                                   version: 1, name: "ma"), files: [file])
            ids.append(r.representation.id)
        }
        let port = PortBox()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var progress: (@Sendable () -> ServerProgress)?
        if serve {
            let server = SyncServer(engine: engine, options: ServerOptions(activeSite: "studio", projects: nil, once: false))
            self.server = server
            progress = { server.progress }
            services.append(.init(service: ServerService(server: server)))
        }
        let app = APIServer(engine: engine, tokens: tokens, logger: Logger(label: "api-test"), metrics: metrics, progress: progress)
            .application(host: "127.0.0.1", port: 0) { await port.set($0) }
        services.append(.init(service: app))
        let group = ServiceGroup(configuration: .init(services: services, logger: Logger(label: "api-test")))
        task = Task { try await group.run() }
        for _ in 0..<500 {
            if let p = await port.value { root = "http://127.0.0.1:\(p)"; base = root + "/api/v1"; return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestServerFailure.failed("the API did not start")
    }

    deinit { task?.cancel() }

    struct Answer {
        var status: Int
        var json: [String: Any]
    }

    func call(_ method: HTTPMethod, _ path: String, token: String? = APIFixture.full, body: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let data = Data(buffer: try await response.body.collect(upTo: 16 << 20))
        return Answer(status: Int(response.status.code), json: (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }
}

struct ServerService: Service {
    let server: SyncServer
    func run() async throws { _ = try await server.runUntilIdle() }
}

actor PortBox {
    var value: Int?
    func set(_ p: Int) { value = p }
}

@Suite("HTTP API against a real running server on a loopback port")
struct APITests {
    @Test("tokens: none is 401, the read token views but may not act (403), the full token acts")
    func auth() async throws {
        let f = try await APIFixture()
        var a = try await f.call(.GET, "/projects", token: nil)
        #expect(a.status == 401 && (a.json["error"] as? [String: Any])?["kind"] as? String == "invalid_input")
        a = try await f.call(.GET, "/projects", token: "wrong-token-0123456789abcdef")
        #expect(a.status == 401)
        a = try await f.call(.GET, "/access", token: APIFixture.read)
        #expect(a.json["access"] as? String == "read" && a.json["tokens_required"] as? Bool == true)
        a = try await f.call(.GET, "/access")
        #expect(a.json["access"] as? String == "full")
        a = try await f.call(.GET, "/projects", token: APIFixture.read)
        #expect(a.status == 200 && (a.json["projects"] as? [[String: Any]])?.first?["name"] as? String == "robots")
        a = try await f.call(.PUT, "/representations/\(f.ids[0])/priority", token: APIFixture.read, body: #"{"priority": 9}"#)
        #expect(a.status == 403)
        a = try await f.call(.PUT, "/representations/\(f.ids[0])/priority", body: #"{"priority": -9}"#)
        #expect(a.status == 200 && (a.json["files"] as? [[String: Any]]) != nil)
    }

    @Test("a listener on another address than loopback needs tokens")
    func listenRefused() throws {
        #expect(throws: SiteSyncError.self) { try APIServer.listenAddress("0.0.0.0:8484", tokens: .none) }
        let local = try APIServer.listenAddress("127.0.0.1:8484", tokens: .none)
        #expect(local.host == "127.0.0.1" && local.port == 8484)
        #expect(try APIServer.listenAddress("0.0.0.0:8484", tokens: APITokens(full: "x-0123456789abcdef", read: nil)).port == 8484)
        #expect(throws: SiteSyncError.self) { try APIServer.listenAddress("nonsense", tokens: .none) }
    }

    @Test("projects, sites, representations (filters, sorting, paging), one representation, and the errors")
    func reading() async throws {
        let f = try await APIFixture()
        let sites = try await f.call(.GET, "/projects/robots/sites")
        #expect((sites.json["sites"] as? [[String: Any]])?.contains { $0["name"] as? String == "backup" } == true)
        var page = try await f.call(.GET, "/projects/robots/representations?page_size=2&page=2")
        #expect(page.status == 200 && page.json["total"] as? Int == 3 && page.json["page"] as? Int == 2 && page.json["page_size"] as? Int == 2)
        #expect((page.json["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [f.ids[2]])
        page = try await f.call(.GET, "/projects/robots/representations?q=BOB")
        #expect((page.json["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [f.ids[1]])
        page = try await f.call(.GET, "/projects/robots/representations?sort=size&order=desc")
        #expect((page.json["items"] as? [[String: Any]])?.map { $0["id"] as? String } == f.ids.reversed())
        page = try await f.call(.GET, "/projects/robots/representations?site=backup&status=queued&folder=chars/anna")
        #expect((page.json["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [f.ids[0]])
        page = try await f.call(.GET, "/projects/robots/representations?page_size=501")
        #expect(page.status == 400)
        page = try await f.call(.GET, "/projects/robots/representations?status=failed")
        #expect(page.status == 400)
        page = try await f.call(.GET, "/projects/robots/representations?sort=colour")
        #expect(page.status == 400)
        page = try await f.call(.GET, "/projects/nosuch/representations")
        #expect(page.status == 404)
        let one = try await f.call(.GET, "/representations/\(f.ids[1].prefix(8))")
        #expect(one.status == 200 && one.json["id"] as? String == f.ids[1])
        let missing = try await f.call(.GET, "/representations/00000000")
        #expect(missing.status == 404 && (missing.json["error"] as? [String: Any])?["kind"] as? String == "not_found")
    }

    @Test("actions: add a site, reset, priority, pause and resume, and removing the last copy is a 409 with the reason")
    func actions() async throws {
        let f = try await APIFixture()
        let id = f.ids[0]
        var a = try await f.call(.POST, "/representations/\(id)/sites/local", body: #"{"priority": 80}"#)
        #expect(a.status == 200 && (a.json["site_status"] as? [String: String])?["ws-anna"] == "queued", "\(a.json)")
        a = try await f.call(.POST, "/representations/\(id)/sites/backup/reset")
        #expect(a.status == 200)
        a = try await f.call(.DELETE, "/representations/\(id)/sites/studio")
        #expect(a.status == 409 && ((a.json["error"] as? [String: Any])?["message"] as? String)?.contains("min_copies") == true)
        a = try await f.call(.DELETE, "/representations/\(id)/sites/local")
        #expect(a.status == 200 && (a.json["site_status"] as? [String: String])?["ws-anna"] == nil, "\(a.json)")
        a = try await f.call(.POST, "/pause", body: #"{"scope": "project", "name": "robots"}"#)
        #expect(a.status == 200 && a.json["paused"] as? Bool == true)
        #expect(try await f.engine.listProjects().first { $0.name == "robots" }?.paused == true)
        a = try await f.call(.POST, "/resume", body: #"{"scope": "project", "name": "robots"}"#)
        #expect(a.status == 200 && a.json["paused"] as? Bool == false)
        a = try await f.call(.POST, "/pause", body: #"{"scope": "galaxy"}"#)
        #expect(a.status == 400)
        a = try await f.call(.PUT, "/representations/\(id)/priority", body: "not json")
        #expect(a.status == 400)
    }
}

/// What a new user did to the API with bad input, each now one clear answer.
@Suite("HTTP API with bad input")
struct APIBadInputTests {
    @Test("a page past any project, a body too large, fields of the wrong type, a server pause with a name: 400 or 413, in the request's words")
    func badRequests() async throws {
        let f = try await APIFixture()
        var a = try await f.call(.GET, "/projects/robots/representations?page=9223372036854775807&page_size=500")
        #expect(a.status == 400 && Self.message(a).contains("past the end"), "\(a.json)")
        a = try await f.call(.PUT, "/representations/\(f.ids[0])/priority", body: "{\"priority\": \"" + String(repeating: "9", count: 100_000) + "\"}")
        #expect(a.status == 413 && Self.message(a).contains("64 KiB"), "\(a.json)")
        a = try await f.call(.PUT, "/representations/\(f.ids[0])/priority", body: #"{"priority": "high"}"#)
        #expect(a.status == 400 && Self.message(a) == "the request body: 'priority' must be a whole number", "\(a.json)")
        a = try await f.call(.PUT, "/representations/\(f.ids[0])/priority", body: #"{"priority": 1.5}"#)
        #expect(a.status == 400 && Self.message(a).contains("whole number of at most 64 bits"), "\(a.json)")
        a = try await f.call(.POST, "/representations/\(f.ids[0])/sites/backup", body: #"{"priorty": 80}"#)
        #expect(a.status == 400 && Self.message(a).contains("unknown field 'priorty'; this call takes 'force', 'priority'"), "\(a.json)")
        a = try await f.call(.POST, "/pause", body: #"{}"#)
        #expect(a.status == 400 && Self.message(a) == "the request body: 'scope' is missing", "\(a.json)")
        a = try await f.call(.POST, "/pause", body: #"{"scope": "server", "name": "robots"}"#)
        #expect(a.status == 400 && Self.message(a).contains("takes no name"), "\(a.json)")
        // A prefix is answered (and logged) as the full id.
        a = try await f.call(.POST, "/pause", body: "{\"scope\": \"representation\", \"name\": \"\(f.ids[0].prefix(8))\"}")
        #expect(a.status == 200 && a.json["name"] as? String == f.ids[0], "\(a.json)")
    }

    @Test("tokens: a comment after a token, an empty file, a short variable, a wrong token said as such, any case of Bearer")
    func tokens() async throws {
        let dir = try TemporaryDirectory("tokens")
        let file = "\(dir.path)/tokens"
        try "full: \(APIFixture.full)   # views and acts\nread: \(APIFixture.read) # views only\n".write(toFile: file, atomically: true, encoding: .utf8)
        let tokens = try APITokens.load(file: file, environment: [:])
        #expect(tokens.access(authorization: "Bearer \(APIFixture.full)") == .full)
        #expect(tokens.access(authorization: "bearer \(APIFixture.read)") == .read)
        try "# nothing yet\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect { try APITokens.load(file: file, environment: [:]) } throws: { "\($0)".contains("holds no token") }
        #expect { try APITokens.load(file: nil, environment: ["SITESYNC_API_TOKEN": "short"]) } throws: { "\($0)".contains("16 or more") }
        let f = try await APIFixture()
        let wrong = try await f.call(.GET, "/projects", token: "wrong-token-0123456789abcdef")
        #expect(wrong.status == 401 && Self.message(wrong).contains("not accepted"))
        let none = try await f.call(.GET, "/projects", token: nil)
        #expect(none.status == 401 && Self.message(none).contains("needs a token"))
        #expect(throws: SiteSyncError.self) { try APIServer.listenAddress("http://127.0.0.1:8484", tokens: .none) }
    }

    static func message(_ a: APIFixture.Answer) -> String {
        ((a.json["error"] as? [String: Any])?["message"] as? String) ?? ""
    }
}
