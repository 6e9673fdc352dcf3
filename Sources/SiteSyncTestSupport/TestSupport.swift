import Foundation
import Testing

/// A temporary folder removed when the test is done with it.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "sitesync-test") throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    public func sub(_ name: String, create: Bool = true) throws -> String {
        let p = "\(path)/\(name)"
        if create { try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true) }
        return p
    }

    /// Writes `size` bytes of repeatable pseudo-random content (distinct per `seed`).
    @discardableResult
    public func file(_ name: String, size: Int, seed: UInt64 = 1) throws -> String {
        let p = "\(path)/\(name)"
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Self.bytes(size: size, seed: seed).write(to: URL(fileURLWithPath: p))
        return p
    }

    public static func bytes(size: Int, seed: UInt64) -> Data {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var words = [UInt64](repeating: 0, count: (size + 7) / 8)
        for i in words.indices {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            words[i] = state
        }
        return words.withUnsafeBytes { Data($0.prefix(size)) }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Files under `root` (recursively) whose name matches.
public func filesBelow(_ root: String, where match: (String) -> Bool = { _ in true }) -> [String] {
    guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
    var out: [String] = []
    while let rel = e.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: "\(root)/\(rel)", isDirectory: &isDir), !isDir.boolValue,
           match((rel as NSString).lastPathComponent) {
            out.append(rel)
        }
    }
    return out.sorted()
}

/// Waits until `condition` holds, polling; fails the test after `timeout` seconds.
public func eventually(_ what: String, timeout: Double = 20, sourceLocation: SourceLocation = #_sourceLocation,
                       _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
    // One last look: on a loaded machine the sleep above can end long after the deadline, with the condition met.
    if try await condition() { return }
    Issue.record("timed out after \(timeout) s waiting for: \(what)", sourceLocation: sourceLocation)
    throw TimedOut(what: what)
}

public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public var description: String { "timed out waiting for \(what)" }
}
