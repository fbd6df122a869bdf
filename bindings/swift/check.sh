#!/usr/bin/env bash
# Swift cannot be compiled on Linux; this checks what can be: the generated Swift sources
# (Doze.swift and DozeCore.swift, doze-core's types, both compiled into the app's Doze module)
# exist and declare the API, the generated C headers (DozeFFI.h, DozeCoreFFI.h) compile with
# clang (as C, and as the one DozeFFI clang module Swift imports), every function they declare
# is exported by the
# library (and every uniffi symbol the library exports is declared), and a C program linked
# against the library calls into it.
#
#   bindings/swift/check.sh BINDINGS_DIR LIBRARY
#
# Prints "swift: N passed, N failed".
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
swift_dir="$1/swift"
lib="$2"
clang="${CLANG:-clang-16}"
work="$1/swift-check"
rm -rf "$work" && mkdir -p "$work"
passed=0
failed=0

check() { # check NAME COMMAND...
  local name="$1"
  shift
  if "$@" >"$work/last.log" 2>&1; then
    passed=$((passed + 1))
    echo "swift: ok   $name"
  else
    failed=$((failed + 1))
    echo "swift: FAIL $name"
    sed 's/^/    /' "$work/last.log" | head -40
  fi
}

sources_generated() {
  for f in Doze.swift DozeCore.swift DozeFFI.h DozeCoreFFI.h DozeFFI.modulemap; do
    [[ -s "$swift_dir/$f" ]] || { echo "missing $swift_dir/$f"; return 1; }
  done
  for f in Doze.swift DozeCore.swift; do
    grep -q '^import DozeFFI$' "$swift_dir/$f" || grep -q 'canImport(DozeFFI)' "$swift_dir/$f" ||
      { echo "$f does not import DozeFFI"; return 1; }
  done
  # One clang module for both headers (scripts/swift-ffi-modulemap).
  [[ ! -e "$swift_dir/DozeCoreFFI.modulemap" ]] || { echo "a second module map"; return 1; }
  grep -q 'header "DozeCoreFFI.h"' "$swift_dir/DozeFFI.modulemap"
}

swift_api_declared() {
  # The app's Doze module: both generated files.
  local s="$work/module.swift" missing=0
  cat "$swift_dir/Doze.swift" "$swift_dir/DozeCore.swift" >"$s"
  for pattern in \
    'open class Wallet:' \
    'public convenience init(config: WalletConfig, mnemonic: String, passphrase: String? = nil)throws' \
    'open func start()async throws' \
    'open func handlePush(payload: Data, headers: \[String: String\], deadlineMs: UInt64)async throws  -> WakeOutcome' \
    'open func handlePushBlocking(payload: Data, headers: \[String: String\], deadlineMs: UInt64)throws  -> WakeOutcome' \
    'open func payBolt11(invoice: String, amountMsat: UInt64? = nil)async throws  -> String' \
    'public protocol EventListener' \
    'public protocol LogListener' \
    'public enum SendError' \
    'public enum MnemonicError' \
    'public struct WakeOutcome' \
    'public func generateMnemonic(wordCount: WordCount) -> String'; do
    if ! grep -q -- "$pattern" "$s"; then
      echo "Doze.swift/DozeCore.swift lack: $pattern"
      missing=1
    fi
  done
  # Every public item carries the doc comment it has in Rust.
  grep -B1 'open func handlePushBlocking' "$s" | head -1 | grep -q '\*/' || { echo "handlePushBlocking has no doc comment"; missing=1; }
  return $missing
}

header_compiles_as_c() {
  printf '#include "DozeFFI.h"\n#include "DozeCoreFFI.h"\nint main(void) { return 0; }\n' >"$work/include.c"
  "$clang" -fsyntax-only -std=c11 -Wall -Werror -Wno-nullability-completeness -I "$swift_dir" "$work/include.c"
}

header_compiles_as_clang_module() {
  printf '@import DozeFFI;\nint main(void) { RustCallStatus s = {0}; (void)s; return (int)(ffi_doze_uniffi_contract_version() + ffi_doze_core_uniffi_contract_version()) * 0; }\n' >"$work/module.m"
  "$clang" -fsyntax-only -fmodules -fmodules-cache-path="$work/modules" \
    -fmodule-map-file="$swift_dir/DozeFFI.modulemap" -I "$swift_dir" "$work/module.m"
}

declared_symbols_are_exported() {
  cat "$swift_dir/DozeFFI.h" "$swift_dir/DozeCoreFFI.h" |
    grep -oE '\b(uniffi|ffi)_doze_[A-Za-z0-9_]+[[:space:]]*\(' | tr -d '( \t' | sort -u >"$work/declared.txt"
  nm -D --defined-only "$lib" | awk '{print $3}' | grep -E '^(uniffi|ffi)_doze_' | sort -u >"$work/exported.txt"
  local declared exported
  declared=$(wc -l <"$work/declared.txt")
  exported=$(wc -l <"$work/exported.txt")
  echo "the headers declare $declared functions; the library exports $exported uniffi symbols"
  [[ "$declared" -gt 50 ]] || { echo "suspiciously few declarations"; return 1; }
  local missing extra
  missing=$(comm -23 "$work/declared.txt" "$work/exported.txt")
  extra=$(comm -13 "$work/declared.txt" "$work/exported.txt")
  [[ -z "$missing" ]] || { echo "declared but not exported:"; echo "$missing"; return 1; }
  [[ -z "$extra" ]] || { echo "exported but not declared:"; echo "$extra"; return 1; }
}

c_program_links_and_calls_the_library() {
  cat >"$work/call.c" <<'C'
#include <stdio.h>
#include "DozeFFI.h"
#include "DozeCoreFFI.h"
int main(void) {
    uint32_t version = ffi_doze_uniffi_contract_version();
    uint32_t core_version = ffi_doze_core_uniffi_contract_version();
    uint16_t checksum = uniffi_doze_checksum_method_wallet_handle_push_blocking();
    printf("contract version %u (doze_core %u), handle_push_blocking checksum %u\n", version, core_version, checksum);
    return version == 26 && core_version == 26 && checksum != 0 ? 0 : 1;
}
C
  "$clang" -std=c11 -Wno-nullability-completeness -I "$swift_dir" "$work/call.c" \
    -L "$(dirname "$lib")" -l:"$(basename "$lib")" -Wl,-rpath,"$(dirname "$lib")" -o "$work/call" &&
    "$work/call"
}

readme_snippets_use_declared_api() {
  python3 "$here/snippet_check.py" "$here/../README.md" "$swift_dir/Doze.swift" "$swift_dir/DozeCore.swift" || return 1
  # The project README's Swift snippets too, once it has some.
  if grep -q '^```swift$' "$here/../../README.md"; then
    python3 "$here/snippet_check.py" "$here/../../README.md" "$swift_dir/Doze.swift" "$swift_dir/DozeCore.swift"
  fi
}

check "the Swift sources are generated" sources_generated
check "Doze.swift + DozeCore.swift declare the API (async, blocking, listeners, typed errors)" swift_api_declared
check "DozeFFI.h + DozeCoreFFI.h compile as C with $clang" header_compiles_as_c
check "DozeFFI.modulemap imports as a clang module" header_compiles_as_clang_module
check "every declared symbol is exported by $(basename "$lib") and vice versa" declared_symbols_are_exported
check "a C program links against the library and calls it" c_program_links_and_calls_the_library
check "the README's Swift snippets use only declared API" readme_snippets_use_declared_api

echo "swift: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
