import Crypto
import Foundation
import SiteSyncProviders

/// AWS Signature Version 4 for S3: the canonical request, the string to sign, and the signing key derived per day
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
struct SigV4: Sendable {
    let credentials: S3Credentials
    let region: String
    let service = "s3"

    /// The SHA-256 of an empty body, for requests without one.
    static let emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Adds `x-amz-date`, `x-amz-content-sha256`, the session token and `Authorization` to `headers` (which must
    /// already hold `host` and every header to be signed). `payloadSHA256` is the body's lower-case hex SHA-256:
    /// S3 refuses a body that does not hash to it, so the signature covers the bytes too.
    func sign(method: String, canonicalURI: String, query: [(String, String)], headers: inout [(String, String)],
              payloadSHA256: String, date: Date) {
        let (amzDate, day) = Self.stamps(date)
        headers.append(("x-amz-date", amzDate))
        headers.append(("x-amz-content-sha256", payloadSHA256))
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        let canonical = headers.map { ($0.0.lowercased(), Self.trim($0.1)) }.sorted { $0.0 < $1.0 }
        let signedHeaders = canonical.map(\.0).joined(separator: ";")
        let request = [
            method,
            canonicalURI,
            Self.canonicalQuery(query),
            canonical.map { "\($0.0):\($0.1)\n" }.joined(),
            signedHeaders,
            payloadSHA256,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(LocalFiles.hex(SHA256.hash(data: Data(request.utf8))))"
        let signature = LocalFiles.hex(HMAC<SHA256>.authenticationCode(for: Data(toSign.utf8), using: signingKey(day: day)))
        headers.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
    }

    /// The day's signing key, derived once a day (four HMACs) and kept.
    func signingKey(day: String) -> SymmetricKey {
        if let cached = keys.key(for: day) { return cached }
        let key = deriveKey(day: day)
        keys.store(key, for: day)
        return key
    }

    let keys = DayKeyCache()

    final class DayKeyCache: @unchecked Sendable {
        private let lock = NSLock()
        private var day = ""
        private var key: SymmetricKey?
        func key(for d: String) -> SymmetricKey? { lock.withLock { day == d ? key : nil } }
        func store(_ k: SymmetricKey, for d: String) { lock.withLock { day = d; key = k } }
    }

    func deriveKey(day: String) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
        }
        let secret = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        return hmac(hmac(hmac(hmac(secret, day), region), service), "aws4_request")
    }

    /// `20261206T101500Z` and `20261206`, in UTC. Plain arithmetic: a calendar per request costs more than the
    /// signature.
    static func stamps(_ date: Date) -> (String, String) {
        let (y, m, d, hh, mm, ss) = S3Time.components(date)
        let day = pad(y, 4) + pad(m, 2) + pad(d, 2)
        return (day + "T" + pad(hh, 2) + pad(mm, 2) + pad(ss, 2) + "Z", day)
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// Query parameters sorted by name, names and values URI-encoded.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    /// S3's URI encoding: every byte but `A-Z a-z 0-9 - . _ ~` as `%XX` (upper case); `/` kept when `slash` is false.
    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// Header values as signed: surrounding spaces removed, inner runs of spaces made one.
    static func trim(_ value: String) -> String {
        value.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }
}
