// swift-tools-version:5.9
// Doze for iOS: the generated Swift bindings (Sources/Doze/Doze.swift and DozeCore.swift) over the DozeFFI
// XCFramework (iOS devices and simulators). Both are written by ./build-xcframework.sh.
import PackageDescription

let package = Package(
    name: "Doze",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Doze", targets: ["Doze"]),
    ],
    targets: [
        .binaryTarget(name: "DozeFFI", path: "DozeFFI.xcframework"),
        .target(
            name: "Doze",
            dependencies: ["DozeFFI"],
            path: "Sources/Doze"
        ),
    ]
)
