import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn and reaped with waitpid.
///
/// Foundation's `Process.waitUntilExit` on Linux can hang when several threads start and wait for processes at
/// once (it waits on a run loop for a notification that may never come); parallel tests do exactly that.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?

    public enum Failure: Error, CustomStringConvertible {
        case spawn(String, Int32)
        case status(String, Int32, String)
        public var description: String {
            switch self {
            case .spawn(let what, let code): return "cannot start \(what): \(String(cString: strerror(code)))"
            case .status(let what, let status, let output): return "\(what) exited \(status): \(output)"
            }
        }
    }

    /// Starts `arguments[0]` (an absolute path) with output to the given files (nil: /dev/null) and no stdin.
    public init(_ arguments: [String], environment: [String: String]? = nil, stdout: String? = nil,
                stderr: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr ?? stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, arguments[0], &actions, nil, &argv, &envp)
        guard rc == 0 else { throw Failure.spawn(arguments[0], rc) }
        pid = child
    }

    static func decode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Blocks until the process ends; its exit code (128 + signal if killed).
    @discardableResult
    public func wait() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitStatus = Self.decode(status)
        return exitStatus!
    }

    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus != nil { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = Self.decode(status)
            return false
        }
        return true
    }

    public var terminationStatus: Int32 { wait() }

    public func signal(_ sig: Int32) { kill(pid, sig) }

    /// Waits up to `timeout` seconds without blocking a thread; false if it still runs.
    public func wait(timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { try? await Task.sleep(nanoseconds: 20_000_000) }
        return !isRunning
    }

    /// Runs a command to the end and returns its output; throws if it fails.
    @discardableResult
    public static func run(_ arguments: String...) throws -> String { try run(arguments) }

    @discardableResult
    public static func run(_ arguments: [String]) throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString.prefix(8)).out").path
        defer { unlink(out) }
        let child = try ChildProcess(arguments, stdout: out)
        let status = child.wait()
        let output = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard status == 0 else { throw Failure.status(arguments.joined(separator: " "), status, output) }
        return output
    }
}
