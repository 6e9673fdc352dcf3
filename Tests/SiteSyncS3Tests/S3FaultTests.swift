import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
@testable import SiteSyncS3
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Synchronization
import Testing

/// An S3 endpoint that only says "slow down": the first `busy` requests get 503 SlowDown, the rest 404.
final class SlowDownServer: @unchecked Sendable {
    private let lock = NSLock()
    private var seen = 0
    let busy: Int
    private(set) var endpoint = ""
    private var task: Task<Void, any Error>?
    private var group: ServiceGroup?

    var requests: Int { lock.withLock { seen } }

    init(busy: Int) { self.busy = busy }

    func next() -> Int { lock.withLock { seen += 1; return seen } }

    func start() async throws {
        let router = Router()
        router.add(middleware: Answer(server: self))
        let port = Mutex(0)
        let quiet = Logger(label: "slowdown", factory: { _ in SwiftLogNoOpLogHandler() })
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } }, logger: quiet)
        let group = ServiceGroup(configuration: .init(services: [app], logger: quiet))
        self.group = group
        task = Task { try await group.run() }
        try await eventually("the fake S3 to listen") { port.withLock { $0 } != 0 }
        endpoint = "http://127.0.0.1:\(port.withLock { $0 })"
    }

    func stop() async {
        await group?.triggerGracefulShutdown()
        _ = await task?.result
    }

    struct Answer: RouterMiddleware {
        typealias Context = BasicRequestContext
        let server: SlowDownServer
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            if server.next() <= server.busy {
                let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                return Response(status: .serviceUnavailable, headers: [.contentType: "application/xml"],
                                body: .init(byteBuffer: ByteBuffer(string: xml)))
            }
            return Response(status: .notFound)
        }
    }
}

@Suite("S3 under throttling")
struct S3FaultTests {
    static func provider(_ endpoint: String) throws -> S3Provider {
        let site = SiteConfig(name: "cloud", provider: "s3", roots: ["work": RootPath("/studio")], options: [
            "provider": .string("s3"), "bucket": .string("plates"), "endpoint": .string(endpoint),
            "access_key_id": .string("AKIATEST"), "secret_access_key": .string("secret"), "retry_base": .double(0.01),
        ])
        return try S3Provider(site: site, platform: .current, environment: [:])
    }

    @Test("SlowDown is retried with backoff, and the request then goes through")
    func slowDownPasses() async throws {
        let server = SlowDownServer(busy: 3)
        try await server.start()
        #expect(try await Self.provider(server.endpoint).stat("/studio/a.exr") == nil)
        #expect(server.requests == 4)
        await server.stop()
    }

    @Test("a storm of SlowDown ends as a quota error: the engine waits without counting a try")
    func slowDownStorm() async throws {
        let server = SlowDownServer(busy: 1_000)
        try await server.start()
        do {
            _ = try await Self.provider(server.endpoint).stat("/studio/a.exr")
            Issue.record("a storm must fail")
        } catch let e as ProviderError {
            #expect(e.kind == .quota && e.message.contains("503") && e.message.contains("busy"), "\(e)")
        }
        #expect(server.requests == S3Client.maxAttempts)
        await server.stop()
    }

    @Test("nothing listening: the site is unavailable, said in one line")
    func nothingListening() async throws {
        let closed = try ClosedPort()
        do {
            _ = try await Self.provider("http://127.0.0.1:\(closed.port)").stat("/studio/a.exr")
            Issue.record("must fail")
        } catch let e as ProviderError {
            #expect(e.kind == .unavailable && e.message.contains("cannot reach") && !e.message.contains("\n"), "\(e)")
        }
    }
}
