/// The version of SiteSync this build is: `sitesync --version`, the HTTP API's document.
public enum SiteSyncVersion {
    public static let current = "0.9.0"
}
