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
        // HTTP (§11): hummingbird without its default traits (no swift-configuration, no
        // URL-encoded forms); tests talk to the live server over a socket, so
        // HummingbirdTesting (and the async-http-client + BoringSSL it would build) is not needed.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
    ],
    targets: [
        // ── The C library, alone in its module ────────────────────────────────
        .systemLibrary(
            name: "Crdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // ── The Kafka edge: a thin Swift wrapper over librdkafka, no credit knowledge.
        //    librdkafka's calls stay in Sources/Kafka/RDKafka; the public types sit above them.
        .target(
            name: "Kafka",
            dependencies: ["Crdkafka", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // ── librdkafka's mock cluster, for development and tests: no library product exports
        //    it; the tools (demo, bench, dev broker, `embedded`) and the tests link it.
        .target(
            name: "KafkaMockCluster",
            dependencies: ["Kafka", "Crdkafka", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // ── A cache-prefetch hint (one inline C function): the ledger starts the loads of an
        //    event's account, id slot and dedupe slot together instead of one after another.
        .target(name: "CachePrefetch"),
        // ── The pure core: rate cards, pricing, ledger, alerts, snapshot content ──
        // No I/O, no clock, no Kafka, no Foundation.
        .target(
            name: "CreditEngine",
            dependencies: ["CachePrefetch"],
            swiftSettings: strictSettings
        ),
        // ── Reading configuration files (YAML) into the core's types ──────────
        .target(
            name: "CreditConfig",
            dependencies: ["CreditEngine", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings
        ),
        // ── The service: the consuming loop (a state machine), the record pipeline, the
        //    output publisher, snapshots on disk, Kafka settings. Nothing else.
        .target(
            name: "CreditMeterService",
            dependencies: [
                "CreditEngine", "CreditConfig", "Kafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // ── Replay: re-rating a range of the input through the same record pipeline ──
        .target(
            name: "CreditMeterReplay",
            dependencies: [
                "CreditMeterService", "CreditEngine", "CreditConfig", "Kafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // ── The HTTP window (contract §11): reads the service's published view ───
        .target(
            name: "CreditMeterHTTP",
            dependencies: [
                "CreditMeterService", "CreditEngine", "CreditConfig", "Kafka",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // ── Tools, apart from the product: demo, bench, workload generator, topic reader,
        //    snapshot inspector, the development cluster. Used by the CLI and the tests.
        .target(
            name: "CreditMeterTools",
            dependencies: [
                "CreditMeterService", "CreditMeterHTTP", "CreditEngine", "CreditConfig", "Kafka", "KafkaMockCluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // ── The command line: thin, one file per command ───────────────────────
        .executableTarget(
            name: "CreditMeterCLI",
            dependencies: [
                "CreditMeterService", "CreditMeterReplay", "CreditMeterTools", "CreditMeterHTTP", "CreditEngine", "CreditConfig", "Kafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Sources/credit-meter",
            swiftSettings: strictSettings
        ),
        // ── Tests (Swift Testing): one target per module, plus the integration suites that run
        //    the whole service over the Kafka wire protocol (mock cluster, subprocesses, browser).
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
            name: "CreditConfigTests",
            dependencies: ["CreditConfig", "CreditEngine"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KafkaTests",
            dependencies: ["Kafka", "KafkaMockCluster", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CreditMeterServiceTests",
            dependencies: [
                "CreditMeterService", "Kafka", "KafkaMockCluster", "CreditConfig", "CreditEngine",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CreditMeterHTTPTests",
            dependencies: ["CreditMeterHTTP", "CreditMeterService", "CreditConfig", "CreditEngine", "Kafka"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CreditMeterReplayTests",
            dependencies: ["CreditMeterReplay"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "CreditMeterService", "CreditMeterReplay", "CreditMeterTools", "CreditMeterHTTP", "CreditEngine", "CreditConfig", "Kafka",
                "KafkaMockCluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
