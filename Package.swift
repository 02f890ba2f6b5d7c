// swift-tools-version:6.1
import PackageDescription

/// One set of compiler settings for every target (grpc-swift-2 does the same).
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Bureau",
    // Generated gRPC code is annotated `@available(macOS 15.0, ...)`.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bureaud", targets: ["bureaud"]),
        .executable(name: "bureau", targets: ["bureau"]),
        // Libraries for tools outside this package, such as the fuzz targets in Fuzz/.
        .library(name: "BureauCore", targets: ["BureauCore"]),
        .library(name: "BureauStore", targets: ["BureauStore"]),
        .library(name: "BureauLMDB", targets: ["BureauLMDB"]),
        .library(name: "BureauWire", targets: ["BureauWire"]),
        .library(name: "BureauAPI", targets: ["BureauAPI"]),
        .library(name: "BureauKeys", targets: ["BureauKeys"]),
        // What a regulator's or an institution's tool links: the client transport and log verification.
        .library(name: "BureauClient", targets: ["BureauClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        // No default traits: with them SwiftPM passes the trait defines in a random order and rebuilds.
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Already in the graph through grpc-swift-nio-transport; named for the server's TLS and stream guards.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        // The regulator's web console (`bureau console`).
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // Hummingbird's header types; no default traits, as Hummingbird asks for it.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0", traits: []),
        // The PostgreSQL backend's driver (only BureauPostgres imports it).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // MARK: Storage engine
        .systemLibrary(
            name: "CLMDB",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(
            name: "LMDB",
            dependencies: ["CLMDB"],
            swiftSettings: swiftSettings
        ),

        // MARK: Keys: envelope encryption, key-encryption keys (key file, PKCS#11 token)
        .systemLibrary(
            name: "CPKCS11",
            pkgConfig: "p11-kit-1",
            providers: [.apt(["libp11-kit-dev"])]
        ),
        .target(
            name: "BureauKeys",
            dependencies: [
                "CPKCS11",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["FORMAT.md"],
            swiftSettings: swiftSettings
        ),

        // MARK: Domain (no I/O, no gRPC)
        .target(
            name: "BureauCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Persistence
        // The store protocols, the group-commit writer and the engine-independent logic (no engine).
        .target(
            name: "BureauStore",
            dependencies: [
                "BureauCore",
                "BureauKeys",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The embedded backend: the only module that imports LMDB.
        .target(
            name: "BureauLMDB",
            dependencies: [
                "BureauCore",
                "BureauStore",
                "LMDB",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["DESIGN.md"],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL backend: the only module that imports PostgresNIO.
        .target(
            name: "BureauPostgres",
            dependencies: [
                "BureauCore",
                "BureauStore",
                "BureauKeys",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["DESIGN.md"],
            swiftSettings: swiftSettings
        ),
        // The backend conformance suite: checks every backend runs, given a factory.
        .target(
            name: "BureauStoreConformance",
            dependencies: [
                "BureauCore",
                "BureauStore",
                "BureauKeys",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The wire contract (generated code, committed)
        .target(
            name: "BureauAPI",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Wire <-> domain mapping and request validation (pure, no I/O)
        .target(
            name: "BureauWire",
            dependencies: [
                "BureauCore",
                "BureauAPI",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: gRPC services
        .target(
            name: "BureauServer",
            dependencies: [
                "BureauKeys",
                "BureauCore",
                "BureauStore",
                "BureauLMDB",
                "BureauAPI",
                "BureauWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Client side: the mTLS transport, checkpoint and proof verification (no server, no store)
        .target(
            name: "BureauClient",
            dependencies: [
                "BureauCore",
                "BureauAPI",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The regulator's web console: routes, HTML, SVG charts, checkpoint memory (verifies all it shows)
        .target(
            name: "BureauConsole",
            dependencies: [
                "BureauCore",
                "BureauAPI",
                "BureauClient",
                "BureauWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The process's memory allocator: jemalloc, linked ahead of the C library's malloc (Allocator.swift)
        .systemLibrary(
            name: "CJemalloc",
            providers: [.apt(["libjemalloc-dev"])]
        ),

        // MARK: Operations: the CA, demo and synthetic data, the importer, bureaud's configuration
        .target(
            name: "BureauOperations",
            dependencies: [
                "BureauCore",
                "BureauStore",
                "BureauKeys",
                // The PostgreSQL store `--store postgresql://...` opens.
                "BureauPostgres",
                // Only for the daemon's configuration types (DaemonConfiguration, ServerLimits, ...) that the
                // configuration file fills, and the certificate fingerprint the callers are bound by.
                "BureauServer",
                // bureaud's and bureau's malloc (Allocator).
                "CJemalloc",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables (thin)
        .executableTarget(
            name: "bureaud",
            dependencies: [
                "BureauOperations",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "bureau",
            dependencies: [
                "BureauCore",
                "BureauStore",
                "BureauKeys",
                "BureauLMDB",
                "BureauPostgres",
                "BureauServer",
                "BureauOperations",
                "BureauClient",
                "BureauConsole",
                "BureauAPI",
                "BureauWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        // Throwaway PostgreSQL clusters (initdb in scratch folders, streaming standbys, promotion, SIGKILL, TLS
        // files) for the PostgreSQL suites; test targets only. It runs programs with BureauPostgres's ToolProcess.
        .target(
            name: "PostgresHarness",
            dependencies: ["BureauPostgres"],
            path: "Tests/PostgresHarness",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PostgresHarnessTests",
            dependencies: ["PostgresHarness"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PostgresFailoverTests",
            dependencies: ["BureauPostgres", "BureauStore", "BureauStoreConformance", "BureauCore", "PostgresHarness"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LMDBTests",
            dependencies: ["LMDB"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BureauCoreTests",
            dependencies: [
                "BureauCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BureauWireTests",
            dependencies: [
                "BureauWire", "BureauCore", "BureauAPI",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BureauKeysTests",
            dependencies: [
                "BureauKeys", "BureauStore", "BureauLMDB", "BureauCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BureauStoreTests",
            dependencies: [
                "BureauStore", "BureauLMDB", "BureauCore", "BureauStoreConformance", "BureauKeys", "LMDB",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StorageConformanceTests",
            dependencies: ["BureauStoreConformance", "BureauStore", "BureauLMDB", "BureauPostgres", "BureauCore", "PostgresHarness"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BureauCLITests",
            dependencies: [
                "bureau",
                "BureauStoreConformance",
                "BureauPostgres",
                "PostgresHarness",
                "BureauServer",
                "BureauOperations",
                "BureauClient",
                "BureauStore",
                "BureauLMDB",
                "BureauCore",
                "BureauAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BureauClientTests",
            // No server and no store: what a regulator's tool links.
            dependencies: [
                "BureauClient", "BureauCore", "BureauAPI",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BureauConsoleTests",
            dependencies: ["BureauConsole", "BureauCore", "BureauClient", "BureauAPI", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BureauOperationsTests",
            dependencies: [
                "BureauOperations",
                "BureauServer",
                "BureauStoreConformance",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BureauServerTests",
            dependencies: [
                "BureauServer",
                "BureauStoreConformance",
                "BureauKeys",
                "BureauOperations",
                "BureauClient",
                "BureauStore",
                "BureauLMDB",
                "BureauPostgres",
                "PostgresHarness",
                "BureauCore",
                "BureauAPI",
                "BureauWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
