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

    /// The test build of the server with the `faulty` (and counting) provider, built beside `sitesync`.
    static var soakBinary: String {
        URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("SiteSyncSoak").path
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
    func run(_ args: String..., expect status: Int32? = 0, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Result {
        try await run(args, expect: status, sourceLocation: sourceLocation)
    }

    /// A command that takes longer than this is killed and reported: a hang fails the test instead of stalling CI.
    static let timeLimit: Double = 120

    @discardableResult
    /// Waits by sleeping, never by blocking a thread: Swift's cooperative pool has one thread per core (two on CI),
    /// and tests blocked in waits would stall every other test of the process.
    func run(_ args: [String], expect status: Int32? = 0, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Result {
        let process = try start(args)
        let deadline = Date().addingTimeInterval(Self.timeLimit)
        while process.child.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        if process.child.isRunning {
            process.signal(SIGKILL)
            Issue.record("`sitesync \(args.joined(separator: " "))` did not finish within \(Int(Self.timeLimit)) s; killed",
                         sourceLocation: sourceLocation)
        }
        let result = process.finish()
        if let status, result.status != status {
            Issue.record("`sitesync \(args.joined(separator: " "))` exited \(result.status), expected \(status)\nstdout: \(result.stdout)\nstderr: \(result.stderr)",
                         sourceLocation: sourceLocation)
        }
        return result
    }

    final class Running: @unchecked Sendable {
        let child: ChildProcess
        let out: String
        let err: String
        init(child: ChildProcess, out: String, err: String) {
            self.child = child
            self.out = out
            self.err = err
        }
        func finish() -> Result {
            Result(status: child.wait(),
                   stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                   stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        }
        func signal(_ sig: Int32) { child.signal(sig) }
        /// Waits up to `timeout` seconds for the process to end; false if it is still running.
        func wait(timeout: Double) async -> Bool { await child.wait(timeout: timeout) }
    }

    /// Starts the binary in the background; output goes to files so a chatty process never blocks on a pipe.
    func start(_ args: [String]) throws -> Running {
        try Self.requireBinary()
        let token = UUID().uuidString.prefix(8)
        let out = "\(dir.path)/.out-\(token)", err = "\(dir.path)/.err-\(token)"
        let child = try ChildProcess([Self.binary] + args, environment: environment, stdout: out, stderr: err)
        return Running(child: child, out: out, err: err)
    }

    func json(_ args: String...) async throws -> [String: Any] {
        let result = try await run(args)
        guard let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            Issue.record("not a JSON object: \(result.stdout)")
            return [:]
        }
        return object
    }
}
