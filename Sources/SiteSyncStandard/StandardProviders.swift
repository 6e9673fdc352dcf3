import SiteSyncExternal
import SiteSyncGoogleDrive
import SiteSyncLocalDrive
import SiteSyncProviders
import SiteSyncRclone
import SiteSyncS3
import SiteSyncSFTP

/// Every provider this build has. A new provider is one module and one line here.
public enum StandardProviders {
    public static let all: [ProviderDescription] = [
        LocalDriveProvider.description,
        SFTPProvider.description,
        GoogleDriveProvider.description,
        S3Provider.description,
        ExternalProvider.description,
        RcloneProvider.description,
    ]

    public static var registry: ProviderRegistry { ProviderRegistry(all) }
}
