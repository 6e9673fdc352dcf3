import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SiteSyncProviders

/// An access token, cached until shortly before it expires.
actor TokenSource {
    let key: ServiceAccountKey
    let tokenURL: String
    var token: String?
    var expires = Date.distantPast
    static let scope = "https://www.googleapis.com/auth/drive"

    init(key: ServiceAccountKey, tokenURL: String) {
        self.key = key
        self.tokenURL = tokenURL
    }

    func current(site: String) async throws -> String {
        if let token, Date() < expires { return token }
        return try await refresh(site: site)
    }

    func invalidate() {
        token = nil
    }

    func refresh(site: String) async throws -> String {
        let assertion = try key.assertion(audience: tokenURL, scope: Self.scope)
        var request = HTTPClientRequest(url: tokenURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=\(assertion)"))
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            throw ProviderError(.unavailable, "site '\(site)': cannot reach the token endpoint \(tokenURL): \(error)")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        guard response.status == .ok, let token = object?["access_token"] as? String else {
            let why = (object?["error_description"] as? String) ?? (object?["error"] as? String) ?? "HTTP \(response.status.code)"
            throw ProviderError(.configuration,
                "site '\(site)': Google refused the service account \(key.clientEmail): \(why); check credentials_file (a new key may be needed)")
        }
        let lifetime = (object?["expires_in"] as? Double) ?? (object?["expires_in"] as? Int).map(Double.init) ?? 3600
        self.token = token
        expires = Date().addingTimeInterval(max(30, lifetime - 60))
        return token
    }
}

/// Drive API requests with authorization, the request budget, and retries: 401 refreshes the token once;
/// 429, rate-limit 403s and 5xx back off exponentially with jitter (honouring Retry-After).
struct DriveClient: Sendable {
    let settings: DriveSettings
    let tokens: TokenSource
    let limiter: RequestLimiter
    static let maxAttempts = 6

    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: Data

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    }

    struct Failure: Error {
        var status: Int
        var reason: String
        var message: String
    }

    /// Google's error body: `{"error": {"code", "message", "errors": [{"reason", …}]}}`.
    static func failure(_ status: Int, _ body: Data) -> Failure {
        let error = ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?["error"] as? [String: Any]
        let reason = ((error?["errors"] as? [[String: Any]])?.first?["reason"] as? String) ?? (error?["status"] as? String) ?? ""
        let message = (error?["message"] as? String) ?? String(decoding: body.prefix(200), as: UTF8.self)
        return Failure(status: status, reason: reason, message: message)
    }

    static func isRateLimit(_ f: Failure) -> Bool {
        f.status == 429 || (f.status == 403 && ["userRateLimitExceeded", "rateLimitExceeded"].contains(f.reason))
    }

    /// Sends a request built by `make` (called again for each attempt) and returns a response with a 2xx or
    /// 308 status. Other statuses become `ProviderError`s that say what Google said.
    func send(_ what: String, accept: Set<Int> = [], timeout: Int64 = 120,
              _ make: @Sendable () throws -> HTTPClientRequest) async throws -> Response {
        var refreshed = false
        var attempt = 0
        while true {
            attempt += 1
            await limiter.acquire()
            var request = try make()
            request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(try await tokens.current(site: settings.site))")
            let response: HTTPClientResponse
            let body: ByteBuffer
            do {
                response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
                body = try await response.body.collect(upTo: 64 << 20)
            } catch {
                if Task.isCancelled { throw ProviderError(.cancelled, "cancelled") }
                // A dropped connection: retry like a 5xx.
                if attempt < Self.maxAttempts {
                    try await backoff(attempt, retryAfter: nil)
                    continue
                }
                throw ProviderError(.unavailable, "\(what) on site '\(settings.site)': cannot reach Google Drive: \(error)")
            }
            let status = Int(response.status.code)
            let data = Data(body.readableBytesView)
            if (200..<300).contains(status) || status == 308 || accept.contains(status) {
                return Response(status: status, headers: response.headers, body: data)
            }
            let failure = Self.failure(status, data)
            if status == 401 && !refreshed {
                refreshed = true
                await tokens.invalidate()
                continue
            }
            let retryable = Self.isRateLimit(failure) || status >= 500
            if retryable && attempt < Self.maxAttempts {
                try await backoff(attempt, retryAfter: response.headers.first(name: "Retry-After").flatMap(Double.init))
                continue
            }
            let text = "\(what) on site '\(settings.site)': HTTP \(status) \(failure.reason) \(failure.message)"
            switch status {
            case 404: throw ProviderError(.notFound, text)
            case 401: throw ProviderError(.configuration, text)
            case 403 where !Self.isRateLimit(failure): throw ProviderError(.configuration, text)
            default: throw ProviderError(Self.isRateLimit(failure) ? .quota : .transient, text)
            }
        }
    }

    func backoff(_ attempt: Int, retryAfter: Double?) async throws {
        try await RetryPacing.wait(attempt: attempt, base: settings.retryBase, retryAfter: retryAfter)
    }

    func url(_ path: String, _ query: [(String, String)] = []) -> String {
        Self.url(settings.apiBaseURL + path, query)
    }

    static func url(_ base: String, _ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return base }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let q = query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
        return base + (base.contains("?") ? "&" : "?") + q
    }

    func get(_ what: String, _ path: String, _ query: [(String, String)]) async throws -> [String: Any] {
        let u = url(path, query)
        return try await send(what) { HTTPClientRequest(url: u) }.json
    }

    func json(_ what: String, method: HTTPMethod, _ path: String, _ query: [(String, String)], body: [String: Any]) async throws -> [String: Any] {
        let u = url(path, query)
        let data = try JSONSerialization.data(withJSONObject: body)
        return try await send(what) {
            var r = HTTPClientRequest(url: u)
            r.method = method
            r.headers.add(name: "Content-Type", value: "application/json; charset=UTF-8")
            r.body = .bytes(ByteBuffer(bytes: data))
            return r
        }.json
    }
}
