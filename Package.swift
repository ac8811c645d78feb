// swift-tools-version: 6.1
import PackageDescription

// Targets follow ../shared/docs/architecture.md: arrows point toward IngestCore.
let package = Package(
    name: "vodingest",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vodingest", targets: ["vodingest"]),
        // For the Benchmarks/ package (package-benchmark), which measures the hot paths.
        .library(name: "VODIngestLibraries", targets: ["IngestCore", "Manifests", "VendorSigning", "JournalSQLite"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.7.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .target(
            name: "IngestCore",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Manifests",
            dependencies: [
                "IngestCore", "VendorSigning",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "IngestEngine",
            dependencies: [
                "IngestCore", .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The vendors' signature algorithms, pure functions: the provider signs, the emulator verifies.
        .target(
            name: "VendorSigning",
            dependencies: ["IngestCore", "CCRC64", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // CRC-64/ECMA folded with carry-less multiplication: the one digest over every byte sent and received.
        .target(name: "CCRC64"),
        // The emulator joins multipart objects in the kernel (copy_file_range).
        .target(name: "CFileCopy"),
        .target(
            name: "VODHTTP",
            dependencies: [
                "IngestCore", "VendorSigning",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "ProviderTencent",
            dependencies: [
                "IngestCore", "VODHTTP", "VendorSigning",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "ProviderAliyun",
            dependencies: ["IngestCore", "VODHTTP", "VendorSigning"]
        ),
        .target(
            name: "Emulator",
            dependencies: [
                "IngestCore", "VendorSigning", "CFileCopy",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The journal on SQLite: only the CLI (the composition root) knows it.
        .target(
            name: "JournalSQLite",
            dependencies: ["IngestCore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "VODIngestCLI",
            dependencies: [
                "IngestCore", "Manifests", "IngestEngine", "ProviderTencent", "ProviderAliyun", "Emulator", "VODHTTP", "JournalSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "vodingest",
            dependencies: ["VODIngestCLI"]
        ),
        // scripts/bench-journal: journalling overhead and resume start-up over a large journal.
        .executableTarget(name: "vodingest-journal-bench", dependencies: ["JournalSQLite", "IngestCore"], path: "Sources/JournalBench"),
        // The parsers under libFuzzer (scripts/fuzz); a normal build replays a corpus through them.
        .executableTarget(name: "vodingest-fuzz", dependencies: ["Manifests", "IngestCore", "VendorSigning"], path: "Fuzz/Sources"),
        // Test helpers and the provider conformance kit every platform passes against the emulator; not a product.
        .target(
            name: "IngestTesting",
            dependencies: [
                "IngestCore", "Manifests", "Emulator", "VODHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .testTarget(name: "IngestCoreTests", dependencies: ["IngestCore"]),
        .testTarget(
            name: "ProviderTencentTests",
            dependencies: [
                "VendorSigning", "ProviderTencent", "Emulator", "VODHTTP", "IngestCore", "IngestTesting", "IngestEngine", "JournalSQLite",
                "Manifests",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ProviderAliyunTests",
            dependencies: [
                "VendorSigning", "ProviderAliyun", "Emulator", "VODHTTP", "IngestCore", "IngestTesting", "IngestEngine", "JournalSQLite",
                "Manifests",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "ManifestsTests", dependencies: ["Manifests", "IngestCore", "IngestTesting"]),
        .testTarget(name: "IngestEngineTests", dependencies: ["IngestEngine", "IngestCore", "IngestTesting", "Manifests"]),
        .testTarget(
            name: "JournalSQLiteTests",
            dependencies: ["JournalSQLite", "IngestCore", "IngestTesting", .product(name: "GRDB", package: "GRDB.swift")]),
        // Runs the built `vodingest` binary (end to end).
        .testTarget(name: "VODIngestCLITests", dependencies: ["IngestTesting", "IngestCore", "Manifests", "VODIngestCLI"]),
    ],
    swiftLanguageModes: [.v6]
)
