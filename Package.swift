// swift-tools-version:6.0
import PackageDescription

// No package dependencies by design: Foundation, Glibc, libsqlite3 and libsystemd only.
let package = Package(
    name: "livefeed",
    products: [
        .executable(name: "livefeed", targets: ["Supervisor"]),
        .executable(name: "livefeed-worker", targets: ["Worker"]),
        .executable(name: "livefeed-bench", targets: ["Bench"]),
    ],
    targets: [
        .target(name: "CLinux", path: "Sources/CLinux"),
        .systemLibrary(
            name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(
            name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        .target(name: "CWALWrites", dependencies: ["CSQLite"], path: "Sources/CWALWrites"),
        .target(name: "LivefeedProtocol", dependencies: ["CLinux"], path: "Sources/Protocol"),
        .executableTarget(
            name: "Supervisor", dependencies: ["LivefeedProtocol", "CLinux", "CSystemd"],
            path: "Sources/Supervisor"),
        .executableTarget(
            name: "Worker", dependencies: ["LivefeedProtocol", "CLinux", "CSQLite", "CWALWrites"],
            path: "Sources/Worker"),
        .executableTarget(name: "Bench", dependencies: ["LivefeedProtocol", "CLinux"], path: "Sources/Bench"),
        .testTarget(name: "ProtocolTests", dependencies: ["LivefeedProtocol"], path: "Tests/ProtocolTests"),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor", "LivefeedProtocol"], path: "Tests/SupervisorTests"),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "LivefeedProtocol"], path: "Tests/WorkerTests"),
        .testTarget(
            name: "IntegrationTests", dependencies: ["LivefeedProtocol", "Supervisor", "Worker"], path: "Tests/IntegrationTests"),
    ]
)
