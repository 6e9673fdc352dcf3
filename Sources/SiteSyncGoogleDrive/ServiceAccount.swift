import Crypto
import Foundation
import SiteSyncProviders
import _CryptoExtras
#if canImport(Glibc)
import Glibc
#endif

/// A Google service-account key (the JSON file the Cloud console downloads).
struct ServiceAccountKey: Sendable {
    var clientEmail: String
    var tokenURI: String
    var key: _RSA.Signing.PrivateKey
    /// Set when other users may read the key file.
    var worldReadable: Bool

    static func load(_ path: String, site: String) throws -> ServiceAccountKey {
        let fix = "download a new JSON key for the service account (Cloud console → IAM → Service accounts → Keys) and set credentials_file"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProviderError(.configuration, "sites.\(site).credentials_file: cannot read \(path) (missing or not readable by this user); \(fix)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ProviderError(.configuration, "sites.\(site).credentials_file: \(path) is not JSON; \(fix)")
        }
        guard object["type"] as? String == "service_account" else {
            throw ProviderError(.configuration, "sites.\(site).credentials_file: \(path) is not a service-account key (type is \(object["type"] as? String ?? "missing")); \(fix)")
        }
        guard let email = object["client_email"] as? String, let pem = object["private_key"] as? String else {
            throw ProviderError(.configuration, "sites.\(site).credentials_file: \(path) lacks client_email or private_key; \(fix)")
        }
        let key: _RSA.Signing.PrivateKey
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw ProviderError(.configuration, "sites.\(site).credentials_file: the private_key in \(path) is not a usable RSA key; \(fix)")
        }
        var st = stat()
        let worldReadable = stat(path, &st) == 0 && (st.st_mode & S_IROTH) != 0
        return ServiceAccountKey(clientEmail: email, tokenURI: object["token_uri"] as? String ?? "https://oauth2.googleapis.com/token",
                                 key: key, worldReadable: worldReadable)
    }

    static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The RS256-signed JWT of the jwt-bearer grant.
    func assertion(audience: String, scope: String, now: Date = Date()) throws -> String {
        let header = #"{"alg":"RS256","typ":"JWT"}"#
        let iat = Int(now.timeIntervalSince1970)
        let claims: [String: Any] = ["iss": clientEmail, "scope": scope, "aud": audience, "iat": iat, "exp": iat + 3600]
        let claimsData = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys, .withoutEscapingSlashes])
        let signingInput = Self.base64URL(Data(header.utf8)) + "." + Self.base64URL(claimsData)
        let signature = try key.signature(for: SHA256.hash(data: Data(signingInput.utf8)), padding: .insecurePKCS1v1_5)
        return signingInput + "." + Self.base64URL(signature.rawRepresentation)
    }
}
