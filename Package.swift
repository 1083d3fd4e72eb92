// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Conveyor",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "conveyor", targets: ["conveyor"]),
        .executable(name: "conveyor-web", targets: ["conveyor-web"]),
        .library(name: "ConveyorQueue", targets: ["ConveyorQueue"]),
        .library(name: "ConveyorMigrations", targets: ["ConveyorMigrations"]),
        .library(name: "ConveyorCLI", targets: ["ConveyorCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C shims: the only place the C libraries are named.
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        // libpq's headers; nothing is linked: CLibPQLoader loads libpq.so.5 on the first
        // PostgreSQL connection, so processes that only run Redis jobs never map it.
        .systemLibrary(name: "CLibPQ", providers: [.apt(["libpq-dev"])]),
        .target(name: "CLibPQLoader", dependencies: ["CLibPQ"], linkerSettings: [.linkedLibrary("dl")]),

        // Thin wrappers, each the only importer of its C module.
        .target(name: "ConveyorJSON"),
        .target(name: "CConveyorPlatform"),
        .target(name: "ConveyorPlatform", dependencies: ["CConveyorPlatform"]),
        .target(name: "ConveyorRedis", dependencies: ["CHiredis", "ConveyorPlatform"]),
        .target(name: "ConveyorPostgres", dependencies: ["CLibPQ", "CLibPQLoader", "ConveyorJSON", "ConveyorPlatform"]),

        // Libraries.
        .target(
            name: "ConveyorQueue",
            dependencies: [
                "ConveyorJSON", "ConveyorRedis", "ConveyorPostgres", "ConveyorPlatform",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "ConveyorMigrations",
            dependencies: [
                "ConveyorJSON", "ConveyorRedis", "ConveyorPostgres", "ConveyorQueue", "ConveyorPlatform",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // YAML (Yams, which needs all of Foundation) for schedule files: linked only into
        // conveyor-web, which a worker runs to read its --schedule file, so workers stay small.
        .target(
            name: "ConveyorScheduleYAML",
            dependencies: ["ConveyorJSON", .product(name: "Yams", package: "Yams")]),
        .target(
            name: "ConveyorMetrics",
            dependencies: [
                "ConveyorQueue", "ConveyorMigrations", "ConveyorRedis", "ConveyorPostgres", "ConveyorPlatform",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "ConveyorWeb",
            dependencies: [
                "ConveyorJSON", "ConveyorRedis", "ConveyorPostgres", "ConveyorQueue", "ConveyorMigrations", "ConveyorMetrics",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "ConveyorCLI",
            dependencies: [
                "ConveyorJSON", "ConveyorRedis", "ConveyorPostgres", "ConveyorQueue", "ConveyorMigrations",
                "ConveyorMetrics", "ConveyorPlatform",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(name: "conveyor", dependencies: ["ConveyorCLI"]),
        // The web server is its own program (`conveyor web` runs it) so workers never load the HTTP stack.
        .executableTarget(
            name: "conveyor-web",
            dependencies: [
                "ConveyorCLI", "ConveyorWeb", "ConveyorRedis", "ConveyorPostgres", "ConveyorScheduleYAML",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "CustomWorker", dependencies: ["ConveyorCLI", "ConveyorQueue"], path: "Examples/CustomWorker"),
        .executableTarget(
            name: "ConveyorBench", dependencies: ["ConveyorCLI", "ConveyorQueue", "ConveyorMigrations"],
            path: "Benchmarks/ConveyorBench"),

        // Tests. TestSupport finds the servers scripts/test started.
        .target(
            name: "TestSupport",
            dependencies: ["ConveyorRedis", "ConveyorPostgres", "ConveyorJSON", "ConveyorPlatform"],
            path: "Tests/TestSupport"),
        .testTarget(name: "ConveyorJSONTests", dependencies: ["ConveyorJSON"]),
        .testTarget(name: "ConveyorRedisTests", dependencies: ["ConveyorRedis", "TestSupport"]),
        .testTarget(name: "ConveyorPlatformTests", dependencies: ["ConveyorPlatform"]),
        .testTarget(name: "ConveyorPostgresTests", dependencies: ["ConveyorPostgres", "TestSupport"]),
        .testTarget(name: "ConveyorQueueTests", dependencies: ["ConveyorQueue", "ConveyorRedis", "TestSupport"]),
        .testTarget(name: "ConveyorScheduleYAMLTests", dependencies: ["ConveyorScheduleYAML", "ConveyorQueue", "ConveyorJSON"]),
        .testTarget(name: "ConveyorMigrationsTests", dependencies: ["ConveyorMigrations", "TestSupport"]),
        .testTarget(
            name: "ConveyorCLITests",
            dependencies: [
                "ConveyorCLI", "ConveyorJSON", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "ConveyorWebTests",
            dependencies: [
                "ConveyorWeb", "ConveyorMigrations", "ConveyorQueue", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["ConveyorQueue", "ConveyorMigrations", "ConveyorPlatform", "TestSupport", "conveyor", "conveyor-web", "CustomWorker"],
            exclude: ["Ruby", "Browser"]),
    ],
    swiftLanguageModes: [.v6]
)
