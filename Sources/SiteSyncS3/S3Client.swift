import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SiteSyncProviders

/// One HTTP client for every S3 site of the process, with a connection pool large enough for several transfers of
/// several parts each (AsyncHTTPClient's shared client keeps 8 connections per host).
enum S3HTTP {
    /// Connections per host.
    static let connectionLimit = 64

    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.connectionLimit)
        // A refused connection fails the request at once; `send` retries it with its own backoff (the pool would
        // otherwise keep trying until the request's deadline).
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(120))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}

/// A request body held in memory, sent in slices so progress, the bandwidth limit and cancellation act while it
/// goes out. Its SHA-256 is known before it is sent: it is signed (`x-amz-content-sha256`), so S3 refuses bytes
/// that changed on the way.
struct S3Payload: Sendable {
    var bytes: ByteBuffer
    /// Lower-case hex.
    var sha256: String
    /// Called after each slice is handed to the connection: bytes so far, and the slice's.
    var onSent: (@Sendable (_ total: Int, _ slice: Int) async throws -> Void)?

    static let empty = S3Payload(bytes: ByteBuffer(), sha256: SigV4.emptyPayload, onSent: nil)
    /// Bytes handed to the connection at a time.
    static let slice = 256 << 10

    struct Slices: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let payload: S3Payload
        struct AsyncIterator: AsyncIteratorProtocol {
            var rest: ByteBuffer
            var sent = 0
            let onSent: (@Sendable (Int, Int) async throws -> Void)?
            mutating func next() async throws -> ByteBuffer? {
                try Task.checkCancellation()
                guard rest.readableBytes > 0, let slice = rest.readSlice(length: Swift.min(S3Payload.slice, rest.readableBytes)) else { return nil }
                sent += slice.readableBytes
                try await onSent?(sent, slice.readableBytes)
                return slice
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: payload.bytes, onSent: payload.onSent) }
    }
}

/// What S3 answered: status, headers and (unless streamed) the body.
struct S3Response: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data
    /// The response whose body is still to be read (`stream: true`).
    var streaming: HTTPClientResponse?

    func header(_ name: String) -> String? { headers.first(name: name) }
}

/// The machine's clock against S3's: a signature is refused when they differ by more than 15 minutes, and S3
/// says its time in the refusal, so requests are then signed with S3's time.
final class ClockSkew: @unchecked Sendable {
    private let lock = NSLock()
    private var offset: TimeInterval = 0
    var now: Date { lock.withLock { Date().addingTimeInterval(offset) } }
    func learn(serverTime: Date) { lock.withLock { offset = serverTime.timeIntervalSinceNow } }
}

/// S3 requests: addressed (path or virtual-host style), signed, paced, and retried where that helps.
struct S3Client: Sendable {
    let settings: S3Settings
    let signer: SigV4
    let limiter: RequestLimiter?
    let skew = ClockSkew()
    static let maxAttempts = 6

    init(settings: S3Settings) {
        self.settings = settings
        signer = SigV4(credentials: settings.credentials.resolved, region: settings.region)
        limiter = settings.requestsPerSecond.map { RequestLimiter(perSecond: $0) }
    }

    /// `s3://bucket/key` for messages.
    func describe(_ key: String) -> String { "s3://\(settings.bucket)/\(key)" }

    struct Target {
        var url: String
        var host: String
        var canonicalURI: String
    }

    func target(key: String?, query: [(String, String)]) -> Target {
        let scheme = settings.endpoint.hasPrefix("http://") ? "http://" : "https://"
        let endpointHost = String(settings.endpoint.dropFirst(scheme.count))
        var uri = settings.pathStyle ? "/\(SigV4.encode(settings.bucket))" : ""
        if let key { uri += "/" + SigV4.encode(key, keepSlash: true) } else if uri.isEmpty { uri = "/" }
        let host = settings.pathStyle ? endpointHost : "\(settings.bucket).\(endpointHost)"
        let q = SigV4.canonicalQuery(query)
        return Target(url: scheme + host + uri + (q.isEmpty ? "" : "?" + q), host: host, canonicalURI: uri)
    }

    /// Sends one request and returns the answer when its status is 2xx or in `accept`. Connection failures,
    /// SlowDown, 429 and 5xx are retried with backoff (then a quota error: no try is counted); a clock S3 finds
    /// skewed is corrected once; every other failure becomes a `ProviderError` naming what S3 said and the fix.
    /// With `stream`, a successful answer's body is left to the caller.
    func send(_ what: String, _ method: HTTPMethod, key: String?, query: [(String, String)] = [],
              headers extra: [(String, String)] = [], payload: S3Payload = .empty, accept: Set<Int> = [],
              stream: Bool = false, timeout: TimeAmount = .seconds(600)) async throws -> S3Response {
        var attempt = 0
        var corrected = false
        while true {
            attempt += 1
            try Task.checkCancellation()
            await limiter?.acquire()
            let t = target(key: key, query: query)
            var headers = [("host", t.host)] + extra
            signer.sign(method: method.rawValue, canonicalURI: t.canonicalURI, query: query, headers: &headers,
                        payloadSHA256: payload.sha256, date: skew.now)
            var request = HTTPClientRequest(url: t.url)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if payload.bytes.readableBytes <= S3Payload.slice && (method == .PUT || method == .POST) {
                // One slice: written at once (an async body costs a small file more than its bytes).
                try await payload.onSent?(payload.bytes.readableBytes, payload.bytes.readableBytes)
                request.body = .bytes(payload.bytes)
            } else if payload.bytes.readableBytes > 0 {
                request.body = .stream(S3Payload.Slices(payload: payload), length: .known(Int64(payload.bytes.readableBytes)))
            }
            let response: HTTPClientResponse
            do {
                response = try await S3HTTP.client.execute(request, timeout: timeout)
            } catch {
                if Task.isCancelled || error is CancellationError { throw ProviderError(.cancelled, "cancelled") }
                if let e = error as? ProviderError { throw e }
                if attempt < (Self.unreachable(error) ? 3 : Self.maxAttempts) {
                    try await backoff(attempt, retryAfter: nil)
                    continue
                }
                throw ProviderError(.unavailable, "\(what) on site '\(settings.site)': cannot reach \(settings.endpoint): \(Self.reason(error))")
            }
            let status = Int(response.status.code)
            if (200..<300).contains(status) || accept.contains(status) {
                if stream && (200..<300).contains(status) {
                    return S3Response(status: status, headers: response.headers, body: Data(), streaming: response)
                }
                let body: Data
                do {
                    body = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
                } catch {
                    if Task.isCancelled { throw ProviderError(.cancelled, "cancelled") }
                    if attempt < Self.maxAttempts { try await backoff(attempt, retryAfter: nil); continue }
                    throw ProviderError(.unavailable, "\(what) on site '\(settings.site)': the answer broke off: \(Self.reason(error))")
                }
                // CompleteMultipartUpload and CopyObject may fail after a 200: the error is in the body.
                if status == 200, let error = S3XML.error(body) {
                    let failure = Failure(status: 200, code: error.code, message: error.message ?? "", region: nil)
                    if failure.retryable, attempt < Self.maxAttempts { try await backoff(attempt, retryAfter: nil); continue }
                    throw providerError(failure, what: what)
                }
                return S3Response(status: status, headers: response.headers, body: body)
            }
            let body = (try? await response.body.collect(upTo: 1 << 20)).map { Data($0.readableBytesView) } ?? Data()
            let parsed = S3XML.error(body)
            let failure = Failure(status: status, code: parsed?.code ?? "", message: parsed?.message ?? "",
                                  region: parsed?.region ?? response.headers.first(name: "x-amz-bucket-region"))
            // A clock more than 15 minutes off is refused (a HEAD's refusal has no body to say so): sign with the
            // server's time from then on, once.
            if (failure.code == "RequestTimeTooSkewed" || (status == 403 && failure.code.isEmpty)) && !corrected {
                corrected = true
                if let time = parsed?.serverTime.flatMap(S3Time.iso) ?? response.headers.first(name: "Date").flatMap(S3Time.http),
                   abs(time.timeIntervalSince(skew.now)) > 300 {
                    skew.learn(serverTime: time)
                    continue
                }
            }
            if failure.retryable && attempt < Self.maxAttempts {
                try await backoff(attempt, retryAfter: response.headers.first(name: "Retry-After").flatMap(Double.init))
                continue
            }
            throw providerError(failure, what: what)
        }
    }

    func backoff(_ attempt: Int, retryAfter: Double?) async throws {
        do {
            try await RetryPacing.wait(attempt: attempt, base: settings.retryBase, retryAfter: retryAfter)
        } catch {
            throw ProviderError(.cancelled, "cancelled")
        }
    }

    struct Failure {
        var status: Int
        var code: String
        var message: String
        var region: String?

        /// Throttling and server trouble: a later request will likely pass.
        var retryable: Bool {
            status == 429 || status >= 500 || ["SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling",
                                                "ThrottlingException", "RequestLimitExceeded", "OperationAborted"].contains(code)
        }
    }

    /// What a failure means for the engine, in one line that names the key to fix where a setting is at fault.
    func providerError(_ f: Failure, what: String) -> ProviderError {
        let site = settings.site
        let said = "HTTP \(f.status)\(f.code.isEmpty ? "" : " \(f.code)")\(f.message.isEmpty ? "" : ": \(f.message)")"
        let text = "\(what) on site '\(site)': \(said)"
        let credentials = settings.credentials.resolved
        let keyID = credentials.shownKeyID, origin = credentials.origin
        switch f.code {
        case "SignatureDoesNotMatch":
            return ProviderError(.configuration, "site '\(site)': S3 refused the signature: the secret access key does not belong to access key \(keyID) (from \(origin)); check \(credentials.secretSetting)")
        case "InvalidAccessKeyId", "InvalidClientTokenId":
            return ProviderError(.configuration, "site '\(site)': \(settings.endpoint) does not know access key \(keyID) (from \(origin)); \(credentials.fixHint)")
        case "ExpiredToken", "TokenRefreshRequired", "InvalidToken":
            return ProviderError(.configuration, "site '\(site)': the session token of access key \(keyID) (from \(origin)) expired or is invalid; renew the temporary credentials")
        case "NoSuchBucket":
            return ProviderError(.configuration, "site '\(site)': bucket '\(settings.bucket)' does not exist at \(settings.endpoint); create it or fix sites.\(site).bucket")
        case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException":
            let hint = f.region.map { "; the bucket is in region \($0): set sites.\(site).region: \($0)" } ?? "; check sites.\(site).region and endpoint"
            return ProviderError(.configuration, "\(text)\(hint)")
        case "AccessDenied", "AllAccessDisabled", "AccountProblem":
            return ProviderError(.configuration, "\(text); access key \(keyID) (from \(origin)) may not do this on bucket '\(settings.bucket)' (see the README's IAM policy)")
        case "NoSuchKey", "NoSuchUpload":
            return ProviderError(.notFound, text)
        case "InvalidStorageClass":
            return ProviderError(.configuration, "\(text); fix sites.\(site).storage_class")
        case "InvalidObjectState":
            // An archived object (GLACIER, DEEP_ARCHIVE, …): not a credentials problem, and no retry helps.
            return ProviderError(.configuration, "\(text): the object is archived and must be restored (S3 RestoreObject) before it can be read; a site SiteSync reads from needs a storage class readable at once (STANDARD, STANDARD_IA, GLACIER_IR, …): fix sites.\(site).storage_class")
        case "BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest":
            return ProviderError(.integrity, "\(text) (the bytes changed on the way)")
        case "QuotaExceeded", "ServiceQuotaExceeded":
            return ProviderError(.quota, text)
        default:
            break
        }
        if f.retryable { return ProviderError(.quota, "\(text) (S3 is busy; tried \(Self.maxAttempts) times)") }
        switch f.status {
        case 404: return ProviderError(.notFound, text)
        case 401, 403: return ProviderError(.configuration, "\(text): S3 refused access key \(keyID) (from \(origin)): a wrong secret, a key it does not know, or a policy that forbids this; \(credentials.fixHint), or run `sitesync site check \(site)`, which tells which")
        case 301, 307: return ProviderError(.configuration, "\(text); the bucket is elsewhere: check sites.\(site).region and endpoint")
        default: return ProviderError(.transient, text)
        }
    }

    /// An operating-system reason for a failed connection, without the client's internal structure.
    static func reason(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("WRONG_VERSION_NUMBER") {
            return "the TLS handshake failed: the server does not speak TLS here (is the endpoint plain http://?)"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return "the TLS handshake failed: the server's certificate is not signed by an authority this machine trusts"
        }
        if text.contains("handshakeFailed") || text.contains("BoringSSL") || text.contains("NIOSSL") {
            return "the TLS handshake failed (check the endpoint's scheme, https:// or http://, and its certificate)"
        }
        for known in ["Connection refused", "connectTimeout", "Connection reset", "No route to host", "Network is unreachable",
                      "remoteConnectionClosed", "readTimeout", "Name or service not known", "certificate"] where text.contains(known) {
            return known
        }
        return String(text.prefix(200))
    }

    /// Whether a failed request never reached a server (nothing listening, no route): worth two more tries, not
    /// five — the site's health check will say it is down.
    static func unreachable(_ error: any Error) -> Bool {
        let text = String(describing: error)
        return ["Connection refused", "connectTimeout", "No route to host", "Network is unreachable", "Name or service not known",
                "handshakeFailed", "WRONG_VERSION_NUMBER"].contains { text.contains($0) }
    }
}

/// The times S3 writes: ISO 8601 in XML, RFC 1123 in headers — parsed and written by hand, since a formatter or
/// a calendar made per request costs more than the request's signature.
enum S3Time {
    static func iso(_ text: String) -> Date? {
        try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: text.contains(".")))
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Sun, 06 Dec 2026 04:30:55 GMT`.
    static func http(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])),
              let year = Int(parts[3]) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3 else { return nil }
        let days = daysFromCivil(year, month + 1, day)
        return Date(timeIntervalSince1970: Double(days * 86_400 + clock[0] * 3_600 + clock[1] * 60 + clock[2]))
    }

    /// Year, month, day, hour, minute, second in UTC.
    static func components(_ date: Date) -> (Int, Int, Int, Int, Int, Int) {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        let (y, m, d) = civil(fromDays: days)
        return (y, m, d, rest / 3_600, rest % 3_600 / 60, rest % 60)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
