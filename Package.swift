// swift-tools-version:6.1
// GRDB 7.10 declares tools-version 6.1; Swift 6 language mode (strict concurrency) for every target.
import PackageDescription

let package = Package(
    name: "SiteSync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sitesync", targets: ["SiteSyncCLI"]),
        .library(name: "SiteSyncEngine", targets: ["SiteSyncEngine"]),
        // Everything concrete wired together: what an embedding application (or the CLI) opens.
        .library(name: "SiteSyncStandard", targets: ["SiteSyncStandard"]),
        // The catalog and provider conformance suites, for catalogs and providers written outside this repository.
        .library(name: "SiteSyncTestSupport", targets: ["SiteSyncTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/CoreOffice/XMLCoder", from: "0.17.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // Pure values: sites, projects, settings layering, root templates, states. No I/O.
        .target(name: "SiteSyncModel", dependencies: [
            .product(name: "Yams", package: "Yams"),
        ]),
        // The Catalog protocol and the records it speaks in.
        .target(name: "SiteSyncCatalog", dependencies: ["SiteSyncModel"]),
        // The embedded default catalog: SQLite through GRDB.
        .target(name: "SiteSyncCatalogSQLite", dependencies: [
            "SiteSyncCatalog",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // The studio catalog: PostgreSQL through postgres-nio (leases by the database's clock, LISTEN/NOTIFY).
        .target(name: "SiteSyncCatalogPostgres", dependencies: [
            "SiteSyncCatalog",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The provider protocol, the registry and streaming helpers every provider shares.
        .target(name: "SiteSyncProviders", dependencies: [
            "SiteSyncModel", "CFileSystem",
            .product(name: "Crypto", package: "swift-crypto"),
            // NIOThreadPool: blocking file work on threads of its own, away from Dispatch's shared pool.
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // statfs and syncfs, for flushes shared by many small files (GroupFlush).
        .systemLibrary(name: "CFileSystem"),
        .target(name: "SiteSyncLocalDrive", dependencies: ["SiteSyncProviders"]),
        // libssh through a system library target; blocking calls run on one thread per connection.
        .systemLibrary(name: "CLibSSH", pkgConfig: "libssh", providers: [.apt(["libssh-dev"])]),
        .target(name: "SiteSyncSFTP", dependencies: [
            "SiteSyncProviders", "CLibSSH", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Google Drive (REST v3) through AsyncHTTPClient; RS256 service-account tokens with swift-crypto.
        .target(name: "SiteSyncGoogleDrive", dependencies: [
            "SiteSyncProviders",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // S3 and S3-compatible storage: SigV4 (swift-crypto), AsyncHTTPClient, S3's XML through XMLCoder.
        .target(name: "SiteSyncS3", dependencies: [
            "SiteSyncProviders",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "XMLCoder", package: "XMLCoder"),
        ]),
        // Providers written by studios in any language: long-lived programs speaking a JSON-lines protocol
        // (docs/external-providers.md), run and read through swift-subprocess.
        .target(name: "SiteSyncExternal", dependencies: [
            "SiteSyncProviders",
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Every rclone backend through one `rclone rcd` per site, driven over its remote-control API.
        .target(name: "SiteSyncRclone", dependencies: [
            "SiteSyncProviders",
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Planning, leasing, verified transfers, retries, alternates, publish and user operations.
        // Protocols only: it never imports a concrete catalog or provider.
        .target(name: "SiteSyncEngine", dependencies: [
            "SiteSyncModel", "SiteSyncCatalog", "SiteSyncProviders",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            // The server's counters and gauges, to whatever backend the composition root picks (Prometheus).
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // The Codable values `--json` prints and the HTTP API answers with; error kinds → exit codes and statuses.
        .target(name: "SiteSyncAPI", dependencies: ["SiteSyncEngine", "SiteSyncCatalog", "SiteSyncModel"]),
        // The HTTP API and the web Sync Queue through Hummingbird: thin routes over the engine; /metrics in
        // Prometheus's text format. The OpenAPI document and the UI's files are compiled into the binary (no build
        // step, no npm): served at /api/v1/openapi.json and /, the document checked against the routes by a test.
        .target(name: "SiteSyncHTTP", dependencies: [
            "SiteSyncEngine", "SiteSyncAPI", "SiteSyncCatalog", "SiteSyncModel",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], resources: [.embedInCode("openapi.json"), .embedInCode("ui/index.html"), .embedInCode("ui/app.js"),
                       .embedInCode("ui/app.css")]),
        // The composition root: the catalog a location names and every built-in provider.
        .target(name: "SiteSyncStandard", dependencies: [
            "SiteSyncEngine", "SiteSyncCatalogSQLite", "SiteSyncCatalogPostgres", "SiteSyncLocalDrive", "SiteSyncSFTP",
            "SiteSyncGoogleDrive", "SiteSyncS3", "SiteSyncExternal", "SiteSyncRclone",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "SiteSyncCLI", dependencies: [
            "SiteSyncStandard", "SiteSyncAPI", "SiteSyncEngine", "SiteSyncCatalog", "SiteSyncHTTP",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Conformance suites shared by every catalog and every provider implementation.
        .target(name: "SiteSyncTestSupport", dependencies: [
            "SiteSyncCatalog", "SiteSyncProviders", "SiteSyncModel", "SiteSyncEngine",
        ]),
        // Benchmark support: times claims and status pages on a filled catalog (bench/catalog-scale.sh).
        .executableTarget(name: "SiteSyncCatalogBench", dependencies: ["SiteSyncStandard", "SiteSyncCatalog", "SiteSyncModel"]),
        // Test support: the server with a fault-injecting provider, for the soak test to SIGKILL (never shipped).
        .executableTarget(name: "SiteSyncSoak", dependencies: [
            "SiteSyncStandard", "SiteSyncAPI", "SiteSyncEngine", "SiteSyncLocalDrive", "SiteSyncProviders", "SiteSyncTestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // A Drive v3 contract server (no emulator exists): Google's documented behaviour for what we call.
        .target(name: "SiteSyncDriveContract", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .testTarget(name: "SiteSyncGoogleDriveTests", dependencies: [
            "SiteSyncGoogleDrive", "SiteSyncDriveContract", "SiteSyncEngine", "SiteSyncStandard", "SiteSyncTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .testTarget(name: "SiteSyncModelTests", dependencies: ["SiteSyncModel"]),
        .testTarget(name: "SiteSyncS3Tests", dependencies: [
            "SiteSyncS3", "SiteSyncEngine", "SiteSyncStandard", "SiteSyncTestSupport", "SiteSyncProviders",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SiteSyncCatalogTests", dependencies: [
            "SiteSyncCatalogSQLite", "SiteSyncCatalogPostgres", "SiteSyncTestSupport", "SiteSyncEngine", "SiteSyncProviders",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "SiteSyncExternalTests", dependencies: [
            "SiteSyncExternal", "SiteSyncEngine", "SiteSyncStandard", "SiteSyncTestSupport", "SiteSyncProviders",
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["Fixtures"]),
        .testTarget(name: "SiteSyncRcloneTests", dependencies: [
            "SiteSyncRclone", "SiteSyncEngine", "SiteSyncStandard", "SiteSyncTestSupport", "SiteSyncProviders",
        ]),
        .testTarget(name: "SiteSyncHTTPTests", dependencies: [
            "SiteSyncHTTP", "SiteSyncEngine", "SiteSyncStandard", "SiteSyncTestSupport", "SiteSyncModel",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SiteSyncProviderTests", dependencies: ["SiteSyncLocalDrive", "SiteSyncTestSupport"]),
        .testTarget(name: "SiteSyncSFTPTests", dependencies: ["SiteSyncSFTP", "SiteSyncEngine", "SiteSyncStandard", "SiteSyncTestSupport"]),
        .testTarget(name: "SiteSyncEngineTests", dependencies: [
            "SiteSyncEngine", "SiteSyncStandard", "SiteSyncAPI", "SiteSyncTestSupport",
        ]),
        .testTarget(name: "SiteSyncCLITests", dependencies: [
            "SiteSyncTestSupport", "SiteSyncProviders", "SiteSyncStandard", "SiteSyncEngine", "SiteSyncLocalDrive",
        ], exclude: ["Browser"]),  // the browser test's selenium script, run by the test with the venv's Python
    ],
    swiftLanguageModes: [.v6]
)
