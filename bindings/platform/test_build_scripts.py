"""The Android and iOS build scripts, run against stub toolchains (fake cargo, cargo-ndk,
rustup, lipo, xcodebuild, llvm-readelf, gradle that record their arguments): the targets,
flags and output paths they use; plus shellcheck over every shell script of the bindings."""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
FAKE = pathlib.Path(__file__).resolve().parent / "fake_tool.py"
ANDROID_TARGETS = ["aarch64-linux-android", "armv7-linux-androideabi", "x86_64-linux-android"]
ANDROID_ABIS = ["arm64-v8a", "armeabi-v7a", "x86_64"]
IOS_TARGETS = ["aarch64-apple-ios", "aarch64-apple-ios-sim", "x86_64-apple-ios"]
PAGE_FLAG = "-C link-arg=-Wl,-z,max-page-size=16384"
SCRIPTS = [
    "android/build-android.sh",
    "ios/build-xcframework.sh",
    "scripts/gen-bindings",
    "scripts/swift-ffi-modulemap",
    "scripts/test-bindings",
    "bindings/kotlin/run-tests.sh",
    "bindings/swift/check.sh",
]


class Sandbox:
    """A copy of the repository's build scripts in a temporary tree, with fake tools on PATH."""

    def __init__(self, tmp: pathlib.Path, tools):
        self.root = tmp / "repo"
        for path in ["android/build-android.sh", "ios/build-xcframework.sh", "scripts/swift-ffi-modulemap", "uniffi.toml"]:
            (self.root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / path, self.root / path)
        self.bin = tmp / "bin"
        self.bin.mkdir()
        for tool in tools:
            (self.bin / tool).symlink_to(FAKE)
        self.log = tmp / "calls.jsonl"
        self.log.touch()
        self.target = tmp / "target"
        self.ndk = tmp / "ndk"
        readelf_dir = self.ndk / "toolchains" / "llvm" / "prebuilt" / "linux-x86_64" / "bin"
        readelf_dir.mkdir(parents=True)
        (readelf_dir / "llvm-readelf").symlink_to(FAKE)

    def run(self, script, *args, env=None):
        base = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.root.parent),
            "FAKE_TOOL_LOG": str(self.log),
            "CARGO_TARGET_DIR": str(self.target),
        }
        base.update(env or {})
        return subprocess.run(
            ["bash", str(self.root / script), *args], env=base, capture_output=True, text=True, timeout=60
        )

    def calls(self, tool=None):
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in entries if tool is None or e["tool"] == tool]


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


# ------------------------------------------------------------------------------------------
# Android


@pytest.fixture
def android(tmp_path):
    return Sandbox(tmp_path, ["cargo", "cargo-ndk", "rustup", "gradle"])


def test_android_builds_three_abis_16k_aligned_with_the_size_profile(android):
    ok(android.run("android/build-android.sh", env={"ANDROID_NDK_HOME": str(android.ndk)}))
    assert android.calls("rustup")[0]["args"] == ["target", "add", *ANDROID_TARGETS]

    [ndk] = android.calls("cargo-ndk")
    args = ndk["args"]
    assert args[0] == "ndk"
    assert [args[i + 1] for i, a in enumerate(args) if a == "-t"] == ANDROID_ABIS
    assert args[args.index("--platform") + 1] == "26"
    jni_libs = android.root / "android" / "doze" / "src" / "main" / "jniLibs"
    assert args[args.index("-o") + 1] == str(jni_libs)
    build = args[args.index("build"):]
    assert build == ["build", "-p", "doze-ffi", "--lib", "--profile", "release-ffi"]
    for target in ANDROID_TARGETS:
        key = f"CARGO_TARGET_{target.upper().replace('-', '_')}_RUSTFLAGS"
        assert PAGE_FLAG in ndk["env"][key], key

    for abi in ANDROID_ABIS:
        assert (jni_libs / abi / "libdoze.so").is_file()


def test_android_generates_the_android_flavour_of_the_kotlin_bindings(android):
    ok(android.run("android/build-android.sh", env={"ANDROID_NDK_HOME": str(android.ndk)}))
    [bindgen] = [c for c in android.calls("cargo") if c["args"][:1] == ["run"]]
    args = bindgen["args"]
    assert args[args.index("-p") + 1] == "uniffi-bindgen" and "generate" in args
    assert args[args.index("--language") + 1] == "kotlin"
    assert args[args.index("--library") + 1].endswith("jniLibs/arm64-v8a/libdoze.so")
    config = pathlib.Path(args[args.index("--config") + 1]).read_text()
    # The packages come from each crate's rust/*/uniffi.toml; the override adds the flavour.
    assert "android = true" in config and 'cdylib_name = "doze"' in config
    out = pathlib.Path(args[args.index("--out-dir") + 1])
    assert out == android.root / "android" / "doze" / "src" / "main" / "kotlin"
    assert (out / "org" / "doze" / "doze.kt").is_file()
    assert (out / "org" / "doze" / "core" / "doze_core.kt").is_file()


def test_android_builds_the_aar_with_gradle_unless_told_not_to(android):
    ok(android.run("android/build-android.sh", env={"ANDROID_NDK_HOME": str(android.ndk)}))
    [gradle] = android.calls("gradle")
    assert ":doze:assembleRelease" in gradle["args"]
    assert gradle["cwd"] == str(android.root / "android")
    assert (android.root / "android" / "doze" / "build" / "outputs" / "aar" / "doze-release.aar").is_file()

    android.log.write_text("")
    ok(android.run("android/build-android.sh", "--no-aar", env={"ANDROID_NDK_HOME": str(android.ndk)}))
    assert android.calls("gradle") == []


def test_android_refuses_a_library_that_is_not_16k_aligned(android):
    result = android.run("android/build-android.sh", env={"ANDROID_NDK_HOME": str(android.ndk), "FAKE_ALIGN": "0x1000"})
    assert result.returncode != 0
    assert "not 16 KB-aligned" in result.stderr


def test_android_needs_an_ndk(android):
    result = android.run("android/build-android.sh")
    assert result.returncode != 0 and "ANDROID_NDK_HOME" in result.stderr
    assert android.calls() == []


def test_android_gradle_project_matches_the_script():
    module = (REPO / "android" / "doze" / "build.gradle.kts").read_text()
    for abi in ANDROID_ABIS:
        assert f'"{abi}"' in module
    assert 'jniLibs.srcDirs("src/main/jniLibs")' in module and 'kotlin.srcDirs("src/main/kotlin")' in module
    assert 'id("com.android.library")' in module and 'namespace = "org.doze"' in module
    sample = REPO / "android" / "sample" / "src" / "main" / "kotlin" / "org" / "doze" / "sample"
    push = (sample / "DozePushService.kt").read_text()
    wake = (sample / "WakeService.kt").read_text()
    assert "FirebaseMessagingService" in push and "startForegroundService" in push
    assert "wallet.handlePush(payload, headers" in wake and "outcome.notificationText" in wake
    lifecycle = (sample / "WalletLifecycle.kt").read_text()
    assert "ProcessLifecycleOwner" in lifecycle and "override fun onStop" in lifecycle
    assert "wallet.pause()" in lifecycle and "wallet.resume()" in lifecycle
    manifest = (REPO / "android" / "sample" / "src" / "main" / "AndroidManifest.xml").read_text()
    assert 'android:name=".SampleApp"' in manifest


# ------------------------------------------------------------------------------------------
# iOS


@pytest.fixture
def ios(tmp_path):
    return Sandbox(tmp_path, ["cargo", "rustup", "lipo", "xcodebuild"])


def test_ios_builds_device_and_simulator_libraries_with_the_size_profile(ios):
    ok(ios.run("ios/build-xcframework.sh"))
    assert ios.calls("rustup")[0]["args"] == ["target", "add", *IOS_TARGETS]
    builds = [c for c in ios.calls("cargo") if c["args"][:1] == ["build"]]
    assert [c["args"] for c in builds] == [
        ["build", "-p", "doze-ffi", "--lib", "--profile", "release-ffi", "--target", t] for t in IOS_TARGETS
    ]
    assert all(c["env"]["IPHONEOS_DEPLOYMENT_TARGET"] == "15.0" for c in builds)


def test_ios_merges_the_simulator_slices_and_builds_the_xcframework(ios):
    ok(ios.run("ios/build-xcframework.sh"))
    lib = lambda target: str(ios.target / target / "release-ffi" / "libdoze.a")  # noqa: E731
    [lipo] = ios.calls("lipo")
    simulator = str(ios.root / "ios" / "build" / "simulator" / "libdoze.a")
    assert lipo["args"] == ["-create", lib("aarch64-apple-ios-sim"), lib("x86_64-apple-ios"), "-output", simulator]

    [xcode] = ios.calls("xcodebuild")
    headers = str(ios.root / "ios" / "build" / "headers")
    assert xcode["args"] == [
        "-create-xcframework",
        "-library", lib("aarch64-apple-ios"), "-headers", headers,
        "-library", simulator, "-headers", headers,
        "-output", str(ios.root / "ios" / "DozeFFI.xcframework"),
    ]
    assert (pathlib.Path(headers) / "DozeFFI.h").is_file() and (pathlib.Path(headers) / "DozeCoreFFI.h").is_file()
    modulemap = (pathlib.Path(headers) / "module.modulemap").read_text()
    assert 'module DozeFFI' in modulemap and 'header "DozeFFI.h"' in modulemap and 'header "DozeCoreFFI.h"' in modulemap
    assert (ios.root / "ios" / "DozeFFI.xcframework" / "Info.plist").is_file()


def test_ios_generates_the_swift_sources_for_the_package(ios):
    ok(ios.run("ios/build-xcframework.sh"))
    [bindgen] = [c for c in ios.calls("cargo") if c["args"][:1] == ["run"]]
    args = bindgen["args"]
    assert args[args.index("--language") + 1] == "swift"
    assert args[args.index("--library") + 1] == str(ios.target / "aarch64-apple-ios" / "release-ffi" / "libdoze.a")
    assert pathlib.Path(args[args.index("--config") + 1]).name == "uniffi.toml"
    assert (ios.root / "ios" / "Sources" / "Doze" / "Doze.swift").is_file()
    assert (ios.root / "ios" / "Sources" / "Doze" / "DozeCore.swift").is_file()


def test_ios_needs_xcode(tmp_path):
    sandbox = Sandbox(tmp_path, ["cargo", "rustup", "lipo"])
    result = sandbox.run("ios/build-xcframework.sh")
    assert result.returncode != 0 and "xcodebuild" in result.stderr


def test_ios_package_matches_the_script():
    package = (REPO / "ios" / "Package.swift").read_text()
    assert '.binaryTarget(name: "DozeFFI", path: "DozeFFI.xcframework")' in package
    assert 'path: "Sources/Doze"' in package and 'dependencies: ["DozeFFI"]' in package
    nse = (REPO / "ios" / "Samples" / "NotificationService" / "NotificationService.swift").read_text()
    assert "UNNotificationServiceExtension" in nse
    assert "wallet.handlePush(payload: payload, headers: headers, deadlineMs: deadlineMs)" in nse
    assert "content.body = outcome.notificationText" in nse
    app = (REPO / "ios" / "Samples" / "App" / "AppDelegate.swift").read_text()
    assert "func applicationDidEnterBackground" in app and "beginBackgroundTask" in app
    assert "try await wallet.pause()" in app and "try await wallet.resume()" in app
    assert "func applicationWillEnterForeground" in app
    assert "enum SharedWallet" in (REPO / "ios" / "Samples" / "Shared" / "SharedWallet.swift").read_text()


# ------------------------------------------------------------------------------------------
# shellcheck


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (apt-get install shellcheck)"
    path = REPO / script
    assert path.is_file(), script
    result = subprocess.run([shellcheck, "-x", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.access(path, os.X_OK), f"{script} is not executable"
