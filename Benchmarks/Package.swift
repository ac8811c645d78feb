// swift-tools-version: 6.1
import PackageDescription

// The hot paths of vodingest under ordo-one/benchmark: `cd Benchmarks && swift package benchmark`.
// A package of its own, so CI (the correctness tests) does not build the benchmark tooling.
let package = Package(
    name: "vodingest-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "vodingest", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "VODIngestLibraries", package: "vodingest"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
