import Foundation
import SiteSyncProviders

/// Server-side copies: a file identical to one already in the bucket (a republished version's unchanged files) is
/// made from it with `CopyObject`, so its bytes never cross the network.
extension S3Provider {
    /// CopyObject takes objects up to 5 GiB; a larger identical file is sent as usual.
    static let largestServerSideCopy: Int64 = 5 << 30

    public func copy(_ path: String, to destination: String, expected: ContentDigest) async throws -> WriteReport {
        guard expected.size <= Self.largestServerSideCopy else {
            throw ProviderError(.configuration, "\(destination) is larger than S3 copies in one request (5 GiB)")
        }
        let sourceKey = S3Settings.key(of: path), key = S3Settings.key(of: destination)
        guard let source = try await head(sourceKey) else {
            throw ProviderError(.sourceMissing, "\(client.describe(sourceKey)) is not there to copy")
        }
        // The object copied from must be known to hold these bytes (S3's own checksum, or the SHA-256 SiteSync
        // stored after verifying its upload); it is not read back here.
        guard source.size == expected.size, source.sha256 == expected.sha256 else {
            throw ProviderError(.sourceCorrupt, "\(client.describe(sourceKey)) is not known to hold \(expected)")
        }
        var inTheWay: Head?
        if let existing = try await head(key) {
            if try await holds(existing, key: key, expected) { return WriteReport(digest: expected, adopted: true) }
            inTheWay = existing
        }
        let aside = try await moveAside(inTheWay, key: key, path: destination)
        let copySource = "/" + SigV4.encode(settings.bucket) + "/" + SigV4.encode(sourceKey, keepSlash: true)
        let r = try await client.send("copy \(client.describe(sourceKey)) to \(destination)", .PUT, key: key,
                                      headers: [("x-amz-copy-source", copySource), ("x-amz-copy-source-if-match", source.etag),
                                                ("x-amz-metadata-directive", "REPLACE"),
                                                // S3 computes the copy's SHA-256 itself: the proof below, without reading
                                                // back a multipart source's copy (whose entity tag is not the source's).
                                                ("x-amz-checksum-algorithm", "SHA256")] + objectHeaders(expected),
                                      accept: [412])
        if r.status == 412 {
            throw ProviderError(.sourceCorrupt, "\(client.describe(sourceKey)) changed while it was copied")
        }
        try await prove(key, destination: destination, copiedFrom: source, expected)
        return WriteReport(digest: expected, movedAside: aside)
    }

    /// The copy holds the expected bytes: its entity tag is the source's MD5 (both written in one request), or S3
    /// reports its own SHA-256 for it (computed for the copy, never the one stored with it), or else it is read back
    /// and hashed. Anything else removes it.
    func prove(_ key: String, destination: String, copiedFrom source: Head, _ expected: ContentDigest) async throws {
        guard let copy = try await head(key) else {
            throw ProviderError(.transient, "\(client.describe(key)) is not there after S3 copied it; the next try looks again")
        }
        let sameMD5 = !source.etag.contains("-") && !source.etag.isEmpty && copy.etag == source.etag
        if copy.size == expected.size, sameMD5 || copy.serverSHA256 == expected.sha256 { return }
        if copy.size == expected.size, try await hashObject(key, size: copy.size, etag: copy.etag) == expected { return }
        _ = try? await client.send("remove the bad copy \(client.describe(key))", .DELETE, key: key, accept: [404])
        throw ProviderError(.integrity, "S3's copy \(client.describe(key)) does not hold \(expected)")
    }
}
