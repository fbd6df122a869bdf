#!/usr/bin/env bash
# Builds Doze for iOS: the static library for devices (aarch64-apple-ios) and for simulators
# (aarch64-apple-ios-sim and x86_64-apple-ios, merged with lipo), with the size-optimised
# profile release-ffi; the Swift bindings; and DozeFFI.xcframework for Package.swift.
#
#   ios/build-xcframework.sh
#
# Needs macOS with Xcode (xcodebuild, lipo) and rustup.
# Output:
#   ios/DozeFFI.xcframework   (ios-arm64, ios-arm64_x86_64-simulator; headers DozeFFI.h and
#                             DozeCoreFFI.h, one module map)
#   ios/Sources/Doze/Doze.swift, DozeCore.swift (doze-core's records and enums: uniffi's second
#                             component, compiled into the same Doze module)
set -euo pipefail
ios_dir="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$ios_dir")"
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/doze-target}"
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"
profile=release-ffi
device=aarch64-apple-ios
simulators=(aarch64-apple-ios-sim x86_64-apple-ios)
build="$ios_dir/build"
xcframework="$ios_dir/DozeFFI.xcframework"

for tool in xcodebuild lipo rustup cargo; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (this needs macOS with Xcode)" >&2; exit 1; }
done

rustup target add "$device" "${simulators[@]}"
for target in "$device" "${simulators[@]}"; do
  cargo build -p doze-ffi --lib --profile "$profile" --target "$target"
done

lib() { echo "$CARGO_TARGET_DIR/$1/$profile/libdoze.a"; }
for target in "$device" "${simulators[@]}"; do
  [[ -s "$(lib "$target")" ]] || { echo "missing $(lib "$target")" >&2; exit 1; }
done

rm -rf "$build" "$xcframework"
mkdir -p "$build/simulator" "$build/headers" "$build/swift" "$ios_dir/Sources/Doze"
lipo -create "$(lib "${simulators[0]}")" "$(lib "${simulators[1]}")" -output "$build/simulator/libdoze.a"

# The Swift bindings and the C headers + module map of DozeFFI (both components' headers in
# the one clang module).
cargo run -q -p uniffi-bindgen -- generate --library "$(lib "$device")" \
  --language swift --config uniffi.toml --out-dir "$build/swift" --no-format
scripts/swift-ffi-modulemap "$build/swift"
cp "$build/swift/DozeFFI.h" "$build/swift/DozeCoreFFI.h" "$build/headers/"
# An XCFramework's headers carry their module map as module.modulemap.
cp "$build/swift/DozeFFI.modulemap" "$build/headers/module.modulemap"
cp "$build/swift/Doze.swift" "$build/swift/DozeCore.swift" "$ios_dir/Sources/Doze/"

xcodebuild -create-xcframework \
  -library "$(lib "$device")" -headers "$build/headers" \
  -library "$build/simulator/libdoze.a" -headers "$build/headers" \
  -output "$xcframework"
[[ -f "$xcframework/Info.plist" ]] || { echo "no XCFramework written" >&2; exit 1; }
echo "XCFramework: $xcframework"
echo "Swift sources: $ios_dir/Sources/Doze/Doze.swift, DozeCore.swift"
