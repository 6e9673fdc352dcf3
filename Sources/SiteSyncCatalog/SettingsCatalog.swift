import Foundation
import SiteSyncModel

/// The studio settings document, the projects, and the pause flags of servers and projects.
public protocol SettingsCatalog: Sendable {
    /// The imported studio settings (YAML), nil before the first import.
    func studioSettingsYAML() async throws -> String?
    /// Replaces the studio settings; running servers notice through `workGeneration`.
    func setStudioSettingsYAML(_ yaml: String) async throws
    /// Replaces the studio settings only if they are still `current` (nil: none yet); false if another writer
    /// changed them meanwhile. Read-modify-write of settings (`project add`, an import) goes through this, so two
    /// at once never lose one's change.
    func replaceStudioSettingsYAML(_ yaml: String, ifStill current: String?) async throws -> Bool
    func isServerPaused() async throws -> Bool
    func setServerPaused(_ paused: Bool) async throws

    /// Registers a project; does nothing if it exists.
    func addProject(_ name: String, now: Date) async throws
    func projects() async throws -> [ProjectRecord]
    /// Throws `unknownProject` for a project the catalog does not have.
    func setProjectPaused(_ name: String, paused: Bool) async throws
}
