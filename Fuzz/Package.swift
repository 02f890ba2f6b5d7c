// swift-tools-version:6.1
// Fuzz targets for Bureau, built with libFuzzer: `scripts/fuzz` builds and runs them.
// A separate package so that the normal build and the tests never compile them.
import PackageDescription

let fuzzSettings: [SwiftSetting] = [
    // libFuzzer supplies main(); the target's entry point is LLVMFuzzerTestOneInput.
    .unsafeFlags(["-parse-as-library"]),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "BureauFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Bureau", path: ".."),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "FuzzIdentifiers",
            dependencies: [.product(name: "BureauCore", package: "Bureau")],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "FuzzRequests",
            dependencies: [
                .product(name: "BureauCore", package: "Bureau"),
                .product(name: "BureauStore", package: "Bureau"),
                .product(name: "BureauWire", package: "Bureau"),
                .product(name: "BureauAPI", package: "Bureau"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "FuzzEntries",
            dependencies: [
                .product(name: "BureauCore", package: "Bureau"),
                .product(name: "BureauStore", package: "Bureau"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: fuzzSettings
        ),
    ]
)
