// swift-tools-version: 6.1
import PackageDescription

// Targets follow ../shared/docs/architecture.md: arrows point toward IngestCore.
// Later issues add VODHTTP, ProviderTencent, ProviderAliyun, JournalSQLite and Emulator.
let package = Package(
    name: "vodingest",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vodingest", targets: ["vodingest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .target(
            name: "IngestCore",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Manifests",
            dependencies: [
                "IngestCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "IngestEngine",
            dependencies: ["IngestCore"]
        ),
        .target(
            name: "VODIngestCLI",
            dependencies: [
                "IngestCore", "Manifests", "IngestEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "vodingest",
            dependencies: ["VODIngestCLI"]
        ),
        // Test helpers (temporary trees, media headers, manifest reading); not a product.
        .target(name: "IngestTesting", dependencies: ["IngestCore", "Manifests"]),
        .testTarget(name: "IngestCoreTests", dependencies: ["IngestCore"]),
        .testTarget(name: "ManifestsTests", dependencies: ["Manifests", "IngestCore", "IngestTesting"]),
        .testTarget(name: "IngestEngineTests", dependencies: ["IngestEngine", "IngestCore", "IngestTesting", "Manifests"]),
        // Runs the built `vodingest` binary (end to end).
        .testTarget(name: "VODIngestCLITests", dependencies: ["IngestTesting", "IngestCore"]),
    ],
    swiftLanguageModes: [.v6]
)
