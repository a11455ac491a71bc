// swift-tools-version: 6.1
import PackageDescription

// Engine micro-benchmarks (package-benchmark). Run from this folder:
//   swift package --disable-sandbox benchmark
let package = Package(
    name: "CreditMeterBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "CreditMeter", path: "../"),
        .package(url: "https://github.com/ordo-one/package-benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "CreditEngine", package: "CreditMeter"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
