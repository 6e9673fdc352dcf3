/// Site and project names end up in paths, SQL parameters and URLs: keep them to a safe alphabet.
public enum Names {
    /// The alias settings use for "this machine's site"; the catalog stores the real site id instead.
    public static let localAlias = "local"
    public static let studio = "studio"
    /// The project whose settings every other project inherits.
    public static let defaultProject = "default"

    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 128 else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".": return true
            default: return false
            }
        } && name != "." && name != ".."
    }

    public static func validateSite(_ name: String, at path: String = "site") throws {
        guard isValid(name) else {
            throw SettingsError(path, "'\(name)' is not a valid site name: use letters, digits, '_', '-' and '.'")
        }
    }

    public static func validateProject(_ name: String) throws {
        guard isValid(name), name != defaultProject else {
            throw SettingsError("project", "'\(name)' is not a valid project name: use letters, digits, '_', '-' and '.' (and not 'default')")
        }
    }
}
