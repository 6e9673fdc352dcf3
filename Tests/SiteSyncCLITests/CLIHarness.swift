import Foundation
import SiteSyncTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `sitesync` binary as a user would, each "machine" with its own environment.
struct CLI {
    static var binary: String {
        // The test bundle sits next to the products of the same build.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("sitesync").path
    }

    static func requireBinary() throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            Issue.record("\(binary) is missing: build it first with `swift build` (the README's test command does)")
            throw CLIError.missingBinary
        }
    }

    enum CLIError: Error { case missingBinary }

    let dir: TemporaryDirectory
    var environment: [String: String]

    /// A machine: its own local settings file and site id, the shared catalog of `dir`.
    init(dir: TemporaryDirectory, siteID: String, extra: [String: String] = [:]) {
        self.dir = dir
        var env = ProcessInfo.processInfo.environment
        env["SITESYNC_CATALOG"] = "\(dir.path)/catalog.sqlite"
        env["SITESYNC_LOCAL_SETTINGS"] = "\(dir.path)/\(siteID).local.yaml"
        env["SITESYNC_SITE_ID"] = siteID
        env["HOME"] = dir.path
        env.merge(extra) { $1 }
        environment = env
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    func run(_ args: String..., expect status: Int32? = 0, sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        try run(args, expect: status, sourceLocation: sourceLocation)
    }

    @discardableResult
    func run(_ args: [String], expect status: Int32? = 0, sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let process = try start(args)
        process.process.waitUntilExit()
        let result = process.finish()
        if let status, result.status != status {
            Issue.record("`sitesync \(args.joined(separator: " "))` exited \(result.status), expected \(status)\nstdout: \(result.stdout)\nstderr: \(result.stderr)",
                         sourceLocation: sourceLocation)
        }
        return result
    }

    final class Running: @unchecked Sendable {
        let process: Process
        let out: String
        let err: String
        init(process: Process, out: String, err: String) {
            self.process = process
            self.out = out
            self.err = err
        }
        func finish() -> Result {
            Result(status: process.terminationStatus,
                   stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                   stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        }
        func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }
        /// Waits up to `timeout` seconds for the process to end; false if it is still running.
        func wait(timeout: Double) async -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { try? await Task.sleep(nanoseconds: 20_000_000) }
            return !process.isRunning
        }
    }

    /// Starts the binary in the background; output goes to files so a chatty process never blocks on a pipe.
    func start(_ args: [String]) throws -> Running {
        try Self.requireBinary()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = args
        process.environment = environment
        let token = UUID().uuidString.prefix(8)
        let out = "\(dir.path)/.out-\(token)", err = "\(dir.path)/.err-\(token)"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return Running(process: process, out: out, err: err)
    }

    func json(_ args: String...) throws -> [String: Any] {
        let result = try run(args)
        guard let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            Issue.record("not a JSON object: \(result.stdout)")
            return [:]
        }
        return object
    }
}
