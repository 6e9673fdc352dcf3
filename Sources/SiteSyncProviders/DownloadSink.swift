import Crypto
import Foundation

/// Where the bytes of a streamed download go, in order: hashed, appended to the local file, reported as progress
/// and kept under the site's bandwidth limit. Every HTTP provider's download writes through one.
///
/// A new file is opened only when its first 1 MiB has arrived, or at `finish`: a small download is created, written
/// and closed in one blocking-I/O job instead of three.
public final class DownloadSink: @unchecked Sendable {
    // Used by the one task that runs the download.
    let destination: String
    /// The file, once opened (at once when continuing after kept bytes).
    var output: BlockingFile?
    /// Bytes that arrived before the file was opened.
    var early = Data()
    let kept: Int64
    let throttle: Throttle
    let progress: ProgressHandler
    var sha: SHA256
    /// Bytes in the file so far, kept ones included.
    public private(set) var done: Int64

    /// Opens `destination` for a download of `remoteSize` bytes: continued after what it holds when `continuing`.
    public static func open(_ destination: String, remoteSize: Int64, continuing: Bool, bytesPerSecond: Int64?,
                            progress: @escaping ProgressHandler) async throws -> DownloadSink {
        guard continuing else {
            return DownloadSink(destination, output: nil, kept: 0, hasher: SHA256(), bytesPerSecond: bytesPerSecond, progress: progress)
        }
        let (file, kept, hasher) = try await BlockingFile.openForDownload(destination, remoteSize: remoteSize, continuing: continuing)
        if kept > 0 { progress(kept) }
        return DownloadSink(destination, output: file, kept: kept, hasher: hasher, bytesPerSecond: bytesPerSecond, progress: progress)
    }

    init(_ destination: String, output: BlockingFile?, kept: Int64, hasher: SHA256, bytesPerSecond: Int64?,
         progress: @escaping ProgressHandler) {
        self.destination = destination
        self.output = output
        self.kept = kept
        self.sha = hasher
        self.done = kept
        self.throttle = Throttle(bytesPerSecond)
        self.progress = progress
    }

    /// What an earlier attempt left: the download continues after it.
    public var keptBytes: Int64 { kept }

    public func write(_ data: Data) async throws {
        try Task.checkCancellation()
        sha.update(data: data)
        if let output {
            try await output.append(data)
        } else {
            early.append(data)
            if early.count >= LocalFiles.chunkSize {
                output = try await BlockingFile.create(destination, with: early)
                early = Data()
            }
        }
        done += Int64(data.count)
        progress(done)
        let wait = throttle.delay(after: done - kept)
        if wait > 0 { try await Task.sleep(nanoseconds: wait) }
    }

    /// Starts over from an empty file (a server that ignored a Range request sends everything).
    public func restart() async throws {
        try await output?.truncate()
        early = Data()
        sha = SHA256()
        done = 0
    }

    /// Writes what is left and returns the digest of the file's bytes. Making them durable is the caller's part
    /// (`VerifiedLocalWrite`), which can share flushes between files.
    public func finish() async throws -> ContentDigest {
        if let output {
            try await output.flush()
        } else {
            try await BlockingFile.create(destination, with: early).close()
            early = Data()
        }
        return ContentDigest(size: done, sha256: LocalFiles.hex(sha.finalize()))
    }

    /// Runs a download into this sink; when it fails, writes the bytes that arrived before it throws, so an attempt
    /// that continues the download starts after them (what the writer gathers for the disk would be lost
    /// otherwise). A failure to write those is not reported: the next attempt finds fewer bytes kept.
    public func keepingArrived<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            try? await output?.flush()
            throw error
        }
    }

    public func close() { output?.close() }
}

extension BlockingFile {
    /// Opens the local file an upload reads; a missing one means the catalog was wrong about the source copy.
    public static func openUploadSource(_ path: String) async throws -> BlockingFile {
        do {
            return try await openForReading(path)
        } catch let e as ProviderError where e.kind == .notFound {
            throw ProviderError(.sourceMissing, e.message)
        }
    }
}
