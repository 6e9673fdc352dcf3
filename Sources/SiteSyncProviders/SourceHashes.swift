import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A local file's SHA-256 and, when a storage reports another kind (`sha1`, `md5`), that one too, from one read:
/// what an upload's source is compared with before it is sent and after the storage answers.
public struct SourceHashes: Sendable {
    public var digest: ContentDigest
    /// Lower-case hex by kind (`sha256`, and `sha1` or `md5` when asked).
    public var hashes: [String: String]

    public static func of(_ path: String, also kind: String?) async throws -> SourceHashes {
        try await BlockingIO.run { flag in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { throw ProviderError(.sourceMissing, "\(path) is not there") }
                throw ProviderError(.sourceMissing, "cannot read \(path): \(LocalFiles.errnoMessage())")
            }
            defer { close(fd) }
            var sha256 = SHA256()
            var sha1 = kind == "sha1" ? Insecure.SHA1() : nil
            var md5 = kind == "md5" ? Insecure.MD5() : nil
            var size: Int64 = 0
            let buffer = LocalFiles.readBuffer(forSize: LocalFiles.fileSize(fd: fd))
            defer { buffer.deallocate() }
            while true {
                try flag.check()
                let n = read(fd, buffer.baseAddress, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ProviderError(.sourceMissing, "cannot read \(path): \(LocalFiles.errnoMessage())")
                }
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                sha256.update(bufferPointer: chunk)
                sha1?.update(bufferPointer: chunk)
                md5?.update(bufferPointer: chunk)
                size += Int64(n)
            }
            let hex = LocalFiles.hex(sha256.finalize())
            var hashes = ["sha256": hex]
            if let sha1 { hashes["sha1"] = LocalFiles.hex(sha1.finalize()) }
            if let md5 { hashes["md5"] = LocalFiles.hex(md5.finalize()) }
            return SourceHashes(digest: ContentDigest(size: size, sha256: hex), hashes: hashes)
        }
    }
}
