import Foundation
import Hummingbird
import Logging
import NIOCore
import SiteSyncAPI
import SiteSyncCatalog
import SiteSyncEngine
import SiteSyncModel

/// The HTTP API under `/api/v1`, answering with the CLI's `--json` shapes and `{"error": {"kind", "message"}}`
/// with 400/401/403/404/409/503 by error kind. Thin: every route is one engine call.
public struct APIServer: Sendable {
    public let engine: SiteSync
    public let tokens: APITokens
    public let logger: Logger
    public let metrics: APIMetrics?
    /// This process's sync server, when one runs beside the API: its transfers and site checks.
    public let progress: (@Sendable () -> ServerProgress)?

    public init(engine: SiteSync, tokens: APITokens, logger: Logger, metrics: APIMetrics? = nil,
                progress: (@Sendable () -> ServerProgress)? = nil) {
        self.engine = engine
        self.tokens = tokens
        self.logger = logger
        self.metrics = metrics
        self.progress = progress
    }

    /// `host:port`, checked: a non-loopback address needs tokens.
    public static func listenAddress(_ text: String, tokens: APITokens) throws -> (host: String, port: Int) {
        if text.contains("://") {
            throw SiteSyncError(.invalidInput, "--listen \(text): write HOST:PORT without a scheme, e.g. 127.0.0.1:8484")
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw SiteSyncError(.invalidInput, "--listen \(text): write HOST:PORT, e.g. 127.0.0.1:8484")
        }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard APITokens.isLoopback(host) || tokens.required else {
            throw SiteSyncError(.invalidInput, "--listen \(text): only a loopback address (127.0.0.1) may listen without tokens; give --token-file FILE (lines `full: TOKEN`, `read: TOKEN`) or SITESYNC_API_TOKEN")
        }
        return (host, port)
    }

    /// A listener that could not start, as one line with the fix (nil: not such an error).
    public static func explain(_ error: any Error, listen: String?) -> SiteSyncError? {
        guard let io = error as? IOError else { return nil }
        switch io.errnoCode {
        case EADDRINUSE:
            return SiteSyncError(.unavailable, "--listen \(listen ?? ""): the address is in use by another program; choose another port or stop that program")
        case EACCES:
            return SiteSyncError(.unavailable, "--listen \(listen ?? ""): not allowed to listen there (ports below 1024 need privileges); choose a port of 1024 or more")
        case EADDRNOTAVAIL:
            return SiteSyncError(.unavailable, "--listen \(listen ?? ""): this machine has no such address; give one of its own (127.0.0.1 for this machine only)")
        default:
            return SiteSyncError(.unavailable, "--listen \(listen ?? ""): cannot listen: \(io.description)")
        }
    }

    /// The application, ready to run in a service group; `onRunning` hears the bound port.
    public func application(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol {
        let router = Router(context: APIContext.self)
        router.add(middleware: APIErrorMiddleware(logger: logger))
        router.add(middleware: APIAuthMiddleware(tokens: tokens))
        APIRoutes(engine: engine, logger: logger, feed: ActivityFeed(engine: engine, progress: progress),
                  health: SiteHealthCache(engine: engine, progress: progress), tokensRequired: tokens.required)
            .install(on: router.group("api/v1"))
        WebUI.install(on: router)
        let engine = self.engine
        if let metrics {
            router.get("metrics") { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                         body: .init(byteBuffer: ByteBuffer(string: await metrics.render(engine))))
            }
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port)),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }
}

/// A request's context: the access its token granted.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var access: APITokens.Access = .read

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// Every failure as `{"error": {"kind", "message"}}` with the status of its kind.
struct APIErrorMiddleware: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIRefusal {
            var response = APIResponse.json(ErrorJSON(kind: error.kind, message: error.message), status: error.status)
            if error.status == 401 { response.headers[.wwwAuthenticate] = "Bearer" }
            return response
        } catch let error as HTTPError {
            let kind: ErrorKind = error.status == .notFound ? .notFound : .invalidInput
            return APIResponse.json(ErrorJSON(kind: kind, message: error.body ?? "\(error.status.reasonPhrase)"), status: Int(error.status.code))
        } catch {
            let json = ErrorJSON(error)
            return APIResponse.json(json, status: json.error.kind.httpStatus)
        }
    }
}

/// 401 without a valid token, 403 for an action with the read token.
struct APIAuthMiddleware: RouterMiddleware {
    let tokens: APITokens

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        // The API's own description is public (it holds no data), and so are the web UI's files (it asks for the
        // token itself).
        if request.method == .get && (request.uri.path.hasSuffix("/openapi.json") || WebUI.isPage(request.uri.path)) {
            return try await next(request, context)
        }
        let given = request.headers[.authorization]
        guard let access = tokens.access(authorization: given) else {
            throw APIRefusal(status: 401, kind: .invalidInput, message: given == nil
                ? "this server needs a token: send `Authorization: Bearer TOKEN`"
                : "the token was not accepted: send `Authorization: Bearer TOKEN` with the full or the read token of this server")
        }
        if request.method != .get && request.method != .head && access != .full {
            throw APIRefusal(status: 403, kind: .invalidInput, message: "the read-only token may view, not act; use the full token")
        }
        var context = context
        context.access = access
        return try await next(request, context)
    }
}

struct APIRefusal: Error {
    var status: Int
    var kind: ErrorKind
    var message: String
}

enum APIResponse {
    static func json<T: Encodable>(_ value: T, status: Int = 200) -> Response {
        let text = (try? APIJSON.encode(value, pretty: false)) ?? "{}"
        return Response(status: .init(code: status), headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
