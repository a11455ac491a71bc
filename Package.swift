// swift-tools-version: 6.1
import PackageDescription

// Strict manifests: every target gets the same upcoming features, so module
// boundaries stay honest (see hummingbird / swift-kafka-client).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "CreditMeter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "credit-meter", targets: ["CreditMeterCLI"]),
        .library(name: "CreditEngine", targets: ["CreditEngine"]),
        .library(name: "Kafka", targets: ["Kafka"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // ── The C library, alone in its module ────────────────────────────────
        .systemLibrary(
            name: "Crdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // ── The Kafka edge: a thin Swift wrapper over librdkafka, no credit knowledge ──
        .target(
            name: "Kafka",
            dependencies: ["Crdkafka", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // ── The pure core: rate cards, pricing, ledger, alerts, snapshot content ──
        // No I/O, no clock, no Kafka, no Foundation.
        .target(
            name: "CreditEngine",
            swiftSettings: strictSettings
        ),
        // ── Reading configuration files (YAML) into the core's types ──────────
        .target(
            name: "CreditConfig",
            dependencies: ["CreditEngine", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings
        ),
        // ── The service: wires the core to the Kafka edge ──────────────────────
        .target(
            name: "CreditMeterService",
            dependencies: [
                "CreditEngine", "CreditConfig", "Kafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // ── The command line: thin ─────────────────────────────────────────────
        .executableTarget(
            name: "CreditMeterCLI",
            dependencies: [
                "CreditMeterService", "CreditEngine", "CreditConfig", "Kafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Sources/credit-meter",
            swiftSettings: strictSettings
        ),
        // ── Tests (Swift Testing) ──────────────────────────────────────────────
        .testTarget(
            name: "CreditEngineTests",
            dependencies: [
                "CreditEngine", "CreditConfig",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            exclude: ["Fixtures"],  // snapshot files read by path
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KafkaTests",
            dependencies: ["Kafka"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CreditMeterServiceTests",
            dependencies: ["CreditMeterService", "CreditEngine", "CreditConfig", "Kafka"],
            swiftSettings: strictSettings
        ),
    ]
)
