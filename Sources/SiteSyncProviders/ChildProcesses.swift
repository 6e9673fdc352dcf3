import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The long-lived programs providers start (external provider programs, `rclone rcd`): when SiteSync exits, those
/// still running get SIGTERM, and SIGKILL two seconds later — a program that ignores the end of its stdin, or an
/// rclone daemon that reads none, never outlives the command that started it.
public enum ChildProcesses {
    static let running = Mutex<Set<pid_t>>([])
    static let installed = Mutex(false)

    /// Called before a program is started: a program that dies while SiteSync writes to its stdin must make the
    /// write fail (EPIPE), not end SiteSync with SIGPIPE.
    public static func prepare() {
        _ = ignoreBrokenPipes
    }

    static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Called when a program has started.
    public static func started(_ pid: pid_t) {
        running.withLock { _ = $0.insert(pid) }
        let first = installed.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first { atexit { ChildProcesses.stopAll() } }
    }

    /// Called when a program has ended (and been reaped).
    public static func ended(_ pid: pid_t) {
        running.withLock { _ = $0.remove(pid) }
    }

    static func stopAll() {
        stop(running.withLock { $0 })
    }

    static func stop(_ pids: Set<pid_t>) {
        guard !pids.isEmpty else { return }
        for pid in pids { kill(pid, SIGTERM) }
        for _ in 0..<40 {
            if pids.allSatisfy({ !isAlive($0) }) { return }
            usleep(50_000)
        }
        for pid in pids where isAlive(pid) { kill(pid, SIGKILL) }
    }

    /// Running, not merely a zombie waiting to be reaped.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }
}
