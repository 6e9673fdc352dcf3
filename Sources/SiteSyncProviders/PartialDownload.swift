import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The kept prefix of a partial download: its size and the hash state over it.
public enum PartialDownload {
    /// Opens `destination` for appending after hashing what it holds, if it holds less than `size` bytes;
    /// otherwise truncates it. Returns the descriptor, the bytes kept and the hash over them.
    public static func open(_ destination: String, remoteSize: Int64) throws -> (fd: Int32, kept: Int64, hasher: SHA256) {
        var hasher = SHA256()
        var kept: Int64 = 0
        if let size = LocalFiles.regularFileSize(destination), size > 0, size < remoteSize {
            let fd = Glibc.open(destination, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            if fd >= 0 {
                defer { close(fd) }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: LocalFiles.chunkSize, alignment: 16)
                defer { buffer.deallocate() }
                while kept < size {
                    let n = read(fd, buffer.baseAddress, min(LocalFiles.chunkSize, Int(size - kept)))
                    if n <= 0 { break }
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    kept += Int64(n)
                }
            }
        }
        if kept > 0 { truncate(destination, off_t(kept)) }
        let fd = try LocalFiles.openForWriting(destination, append: kept > 0)
        return (fd, kept, kept > 0 ? hasher : SHA256())
    }
}
