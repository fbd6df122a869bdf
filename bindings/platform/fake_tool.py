#!/usr/bin/env python3
"""A stand-in for cargo, cargo-ndk, rustup, lipo, xcodebuild, llvm-readelf and gradle, for
testing the Android and iOS build scripts where those toolchains do not exist. Installed under
each tool's name; records every call (argv, the environment variables the scripts set, the
working directory) as a JSON line in $FAKE_TOOL_LOG, and writes the files the real tool would
write, so that the scripts run to the end."""

import json
import os
import pathlib
import sys

tool = pathlib.Path(sys.argv[0]).name
args = sys.argv[1:]
env_keys = [k for k in os.environ if k.startswith("CARGO_TARGET_") or k in ("IPHONEOS_DEPLOYMENT_TARGET", "CARGO_TARGET_DIR")]
with open(os.environ["FAKE_TOOL_LOG"], "a") as log:
    log.write(json.dumps({"tool": tool, "args": args, "env": {k: os.environ[k] for k in env_keys}, "cwd": os.getcwd()}) + "\n")


def value(flag):
    return args[args.index(flag) + 1] if flag in args else None


def touch(path, text="fake\n"):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


if tool == "cargo":
    if args[:1] == ["ndk"]:
        os.execvp("cargo-ndk", ["cargo-ndk"] + args)
    if args[:1] == ["build"]:
        target, profile = value("--target"), value("--profile") or "debug"
        base = pathlib.Path(os.environ["CARGO_TARGET_DIR"])
        out = base / target / profile if target else base / profile
        touch(out / "libdoze.a")
        touch(out / "libdoze.so")
    elif args[:1] == ["run"] and "uniffi-bindgen" in args:
        language, out = value("--language"), pathlib.Path(value("--out-dir"))
        if language == "kotlin":
            touch(out / "org" / "doze" / "doze.kt", "package org.doze\n")
            touch(out / "org" / "doze" / "core" / "doze_core.kt", "package org.doze.core\n")
        elif language == "swift":
            touch(out / "Doze.swift", "import DozeFFI\n")
            touch(out / "DozeFFI.h", "#pragma once\n")
            touch(out / "DozeFFI.modulemap", 'module DozeFFI { header "DozeFFI.h" export * }\n')
            touch(out / "DozeCore.swift", "import DozeFFI\n")
            touch(out / "DozeCoreFFI.h", "#pragma once\n")
            touch(out / "DozeCoreFFI.modulemap", 'module DozeFFI { header "DozeCoreFFI.h" export * }\n')
elif tool == "cargo-ndk":
    out = pathlib.Path(value("-o"))
    abis = [args[i + 1] for i, a in enumerate(args) if a == "-t"]
    for abi in abis:
        touch(out / abi / "libdoze.so")
elif tool == "lipo":
    touch(value("-output"))
elif tool == "xcodebuild":
    touch(pathlib.Path(value("-output")) / "Info.plist")
elif tool == "llvm-readelf":
    align = os.environ.get("FAKE_ALIGN", "0x4000")
    print("Program Headers:")
    print("  Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align")
    print(f"  LOAD 0x000000 0x0000000000000000 0x0000000000000000 0x1000 0x1000 R   {align}")
    print(f"  LOAD 0x004000 0x0000000000004000 0x0000000000004000 0x1000 0x1000 R E {align}")
    print("  DYNAMIC 0x008000 0x0000000000008000 0x0000000000008000 0x100 0x100 RW 0x8")
elif tool in ("gradle", "gradlew"):
    touch(pathlib.Path(os.getcwd()) / "doze" / "build" / "outputs" / "aar" / "doze-release.aar")
