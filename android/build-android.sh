#!/usr/bin/env bash
# Builds Doze for Android: libdoze.so for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk
# (size-optimised profile release-ffi, 16 KB page alignment), the Android flavour of the Kotlin
# bindings, and (with Gradle and an Android SDK present) the AAR.
#
#   android/build-android.sh [--no-aar]
#
# Needs: rustup, cargo-ndk (cargo install cargo-ndk), an NDK (ANDROID_NDK_HOME, r27 or newer),
# and for the AAR an Android SDK (ANDROID_HOME) and Gradle (gradle on PATH or ./gradlew).
# Output:
#   android/doze/src/main/jniLibs/<abi>/libdoze.so
#   android/doze/src/main/kotlin/org/doze/doze.kt, org/doze/core/doze_core.kt (doze-core's
#     records and enums: uniffi's second component, in package org.doze.core)
#   android/doze/build/outputs/aar/doze-release.aar
set -euo pipefail
android_dir="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$android_dir")"
cd "$root"

build_aar=1
for arg in "$@"; do
  case "$arg" in
    --no-aar) build_aar=0 ;;
    *) echo "usage: $0 [--no-aar]" >&2; exit 2 ;;
  esac
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/doze-target}"
profile=release-ffi
min_sdk=26
abis=(arm64-v8a armeabi-v7a x86_64)
targets=(aarch64-linux-android armv7-linux-androideabi x86_64-linux-android)
jni_libs="$android_dir/doze/src/main/jniLibs"
kotlin_out="$android_dir/doze/src/main/kotlin"

if [[ -z "${ANDROID_NDK_HOME:-}" ]]; then
  echo "ANDROID_NDK_HOME is not set (install NDK r27 or newer)" >&2
  exit 1
fi
command -v cargo-ndk >/dev/null || { echo "cargo-ndk is missing: cargo install cargo-ndk" >&2; exit 1; }

rustup target add "${targets[@]}"

# 16 KB pages (Android 15+): every LOAD segment aligned to 16384. NDK r27+ does it by default;
# say it explicitly so that an older NDK cannot silently produce a 4 KB-aligned library.
page_flags="-C link-arg=-Wl,-z,max-page-size=16384"
export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="$page_flags"
export CARGO_TARGET_ARMV7_LINUX_ANDROIDEABI_RUSTFLAGS="$page_flags"
export CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS="$page_flags"

ndk_args=()
for abi in "${abis[@]}"; do
  ndk_args+=(-t "$abi")
done
rm -rf "$jni_libs"
cargo ndk "${ndk_args[@]}" --platform "$min_sdk" -o "$jni_libs" \
  build -p doze-ffi --lib --profile "$profile"

# Check what was produced: one library per ABI, every LOAD segment 16 KB-aligned.
readelf="${READELF:-}"
if [[ -z "$readelf" ]]; then
  readelf=$(find "$ANDROID_NDK_HOME/toolchains/llvm/prebuilt" -name llvm-readelf \( -type f -o -type l \) 2>/dev/null | head -1)
fi
[[ -n "$readelf" ]] || { echo "llvm-readelf not found in the NDK (set READELF)" >&2; exit 1; }
for abi in "${abis[@]}"; do
  lib="$jni_libs/$abi/libdoze.so"
  [[ -s "$lib" ]] || { echo "missing $lib" >&2; exit 1; }
  if "$readelf" -lW "$lib" | awk '$1 == "LOAD" { loads++ } $1 == "LOAD" && $NF != "0x4000" { bad = 1 } END { exit bad || !loads }'; then
    echo "$abi: libdoze.so, LOAD segments 16 KB-aligned"
  else
    echo "$abi: libdoze.so is not 16 KB-aligned" >&2
    exit 1
  fi
done

# The Android flavour of the bindings (android.system.Os-aware cleaner, @RequiresApi), from the
# arm64 library's metadata.
android_config="$CARGO_TARGET_DIR/uniffi-android.toml"
mkdir -p "$CARGO_TARGET_DIR"
awk '{ print } /^\[bindings\.kotlin\]$/ { print "android = true" }' uniffi.toml >"$android_config"
rm -rf "$kotlin_out"
cargo run -q -p uniffi-bindgen -- generate \
  --library "$jni_libs/arm64-v8a/libdoze.so" \
  --language kotlin --config "$android_config" --out-dir "$kotlin_out" --no-format
for kt in org/doze/doze.kt org/doze/core/doze_core.kt; do
  [[ -s "$kotlin_out/$kt" ]] || { echo "no Kotlin bindings generated ($kt)" >&2; exit 1; }
done

if [[ "$build_aar" -eq 1 ]]; then
  if [[ -x "$android_dir/gradlew" ]]; then
    gradle=("$android_dir/gradlew")
  elif command -v gradle >/dev/null; then
    gradle=(gradle)
  else
    echo "no Gradle: the native libraries and bindings are ready; run with --no-aar to skip this" >&2
    exit 1
  fi
  (cd "$android_dir" && "${gradle[@]}" --no-daemon :doze:assembleRelease)
  aar="$android_dir/doze/build/outputs/aar/doze-release.aar"
  [[ -s "$aar" ]] || { echo "missing $aar" >&2; exit 1; }
  echo "AAR: $aar"
fi
