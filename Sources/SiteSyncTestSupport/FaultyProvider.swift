import Foundation
import SiteSyncModel
import SiteSyncProviders

/// A provider that wraps another and makes a share of its calls go wrong the ways networks and disks do: an error
/// (after some bytes moved), a hang far past any timeout, a short read, corrupted bytes. The soak test runs a whole
/// studio through it to show that nothing is marked synced that is not, and that the server keeps going.
///
/// Site keys: those of the wrapped provider, plus `fault_rate` (0…1), `hang_seconds`, `seed` and `count_file`
/// (each finished upload appends `write|adopt SITE PATH PID` there: the multi-server tests count bytes moved per copy).
public final class FaultyProvider: StorageProvider, @unchecked Sendable {
    public static let name = "faulty"

    public let siteName: String
    let inner: any StorageProvider
    let rate: Double
    let hang: TimeInterval
    let countFile: String?
    private let lock = NSLock()
    private var state: UInt64
    private var counts: [String: Int] = [:]

    public enum Fault: String, CaseIterable, Sendable { case error, hang, shortRead, corrupt }

    public init(wrapping inner: any StorageProvider, site: SiteConfig) {
        self.inner = inner
        siteName = site.name
        rate = site.options["fault_rate"]?.numberValue ?? 0.3
        hang = site.options["hang_seconds"]?.numberValue ?? 5
        countFile = site.options["count_file"]?.stringValue
        state = UInt64(site.options["seed"]?.integerValue ?? 1) &* 0x9E37_79B9_7F4A_7C15 | 1
    }

    /// The `faulty` provider: `base` with faults; it never claims to be a local folder, so every byte goes through it.
    public static func description(wrapping base: ProviderDescription) -> ProviderDescription {
        var schema = base.schema
        schema.provider = name
        schema.options += [
            OptionSpec("fault_rate", .number, default: "0.3", range: 0...1, help: "share of calls that fail"),
            OptionSpec("hang_seconds", .number, default: "5", range: 0...3600, help: "how long a hung call hangs"),
            OptionSpec("seed", .integer, default: "1", help: "seed of the fault sequence"),
            OptionSpec("count_file", .path, help: "append one line per finished upload (write or adopt) to this file"),
        ]
        return ProviderDescription(schema: schema, capabilities: base.capabilities.subtracting(.localFolder),
                                   defaultConcurrency: base.defaultConcurrency, summary: "\(base.name) with injected faults (tests)",
                                   make: { site, platform in
                                       var inner = site
                                       inner.provider = base.name
                                       return FaultyProvider(wrapping: try base.make(inner, platform), site: site)
                                   })
    }

    /// Faults injected so far, by kind.
    public var injected: [String: Int] { lock.withLock { counts } }

    /// How often each kind comes up among faults: hangs are the rarest (each one holds a slot until the stall
    /// timeout), dropped connections the commonest.
    static let weights: [Fault: Int] = [.error: 5, .hang: 1, .shortRead: 2, .corrupt: 2]

    func roll(_ allowed: [Fault]) -> Fault? {
        lock.withLock {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            let x = Double(state % 1_000_000) / 1_000_000
            guard x < rate else { return nil }
            let total = allowed.reduce(0) { $0 + (Self.weights[$1] ?? 1) }
            var pick = Int(state / 1_000_000 % UInt64(total))
            var fault = allowed[0]
            for candidate in allowed {
                pick -= Self.weights[candidate] ?? 1
                if pick < 0 { fault = candidate; break }
            }
            counts[fault.rawValue, default: 0] += 1
            return fault
        }
    }

    /// Hangs without honouring cancellation, as a dead connection does, then fails.
    func hangThenFail(_ what: String) async throws -> Never {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + hang) { c.resume() }
        }
        throw ProviderError(.transient, "injected: \(what) hung for \(hang) s")
    }

    public func check() async throws -> [String] { try await inner.check() }

    public func stat(_ path: String) async throws -> RemoteFileInfo? {
        switch roll([.error, .hang]) {
        case .error?: throw ProviderError(.transient, "injected: stat failed")
        case .hang?: try await hangThenFail("stat")
        default: return try await inner.stat(path)
        }
    }

    public func upload(localFile: String, to path: String, expected: ContentDigest,
                       progress: @escaping ProgressHandler) async throws -> WriteReport {
        switch roll([.error, .hang]) {
        case .error?: throw ProviderError(.transient, "injected: connection dropped during upload")
        case .hang?: try await hangThenFail("upload")
        default:
            let report = try await inner.upload(localFile: localFile, to: path, expected: expected, progress: progress)
            if let countFile { Self.append("\(report.adopted ? "adopt" : "write") \(siteName) \(path) \(getpid())\n", to: countFile) }
            return report
        }
    }

    /// One `write(2)` with O_APPEND: lines from several processes never interleave.
    static func append(_ line: String, to file: String) {
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { return }
        _ = Array(line.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    public func download(_ path: String, to destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, continuing: false, to: destination, progress: progress)
    }

    public func download(_ path: String, continuing destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        try await download(path, continuing: true, to: destination, progress: progress)
    }

    func download(_ path: String, continuing: Bool, to destination: String, progress: @escaping ProgressHandler) async throws -> ContentDigest {
        let fault = roll(Fault.allCases)
        if fault == .hang { try await hangThenFail("download") }
        let digest = continuing ? try await inner.download(path, continuing: destination, progress: progress)
                                : try await inner.download(path, to: destination, progress: progress)
        switch fault {
        case .error?:
            throw ProviderError(.transient, "injected: connection dropped during download")
        case .shortRead?:
            // The connection ended early but the call "succeeded": only part of the bytes arrived.
            truncate(destination, off_t(digest.size / 2))
            return try LocalFiles.digest(of: destination)
        case .corrupt?:
            // A bit flipped on the way.
            if let handle = FileHandle(forUpdatingAtPath: destination), digest.size > 0 {
                handle.seek(toFileOffset: UInt64(digest.size / 3))
                let byte = handle.readData(ofLength: 1)
                handle.seek(toFileOffset: UInt64(digest.size / 3))
                handle.write(Data([(byte.first ?? 0) ^ 0x40]))
                try? handle.close()
            }
            return try LocalFiles.digest(of: destination)
        default:
            return digest
        }
    }

    public func delete(_ path: String, pruneUpTo root: String?) async throws {
        try await inner.delete(path, pruneUpTo: root)
    }

    public func storedDigest(_ path: String) async throws -> ContentDigest? { try await inner.storedDigest(path) }
}
