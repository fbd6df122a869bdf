#!/usr/bin/env bash
# Compiles the generated Kotlin bindings with the JUnit suite and runs it on the JVM against
# the built library; then compiles the Android flavour of the bindings against stubs of the
# three Android classes it references.
#
#   bindings/kotlin/run-tests.sh BINDINGS_DIR LIB_DIR KOTLIN_HOME
#
# BINDINGS_DIR holds kotlin/ and kotlin-android/ (scripts/gen-bindings: org/doze/doze.kt and
# doze-core's org/doze/core/doze_core.kt), LIB_DIR libdoze.so,
# KOTLIN_HOME the kotlin-compiler npm package (bin/kotlinc, lib/kotlin-stdlib.jar and
# lib/kotlinx-coroutines-core-jvm.jar). JNA and JUnit 5 come from Debian (libjna-java, junit5).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bindings="$1"
libdir="$2"
kotlin_home="$3"
java_share=/usr/share/java
work="$bindings/kotlin-build"
rm -rf "$work"
mkdir -p "$work/classes" "$work/android-stubs" "$work/android-classes"

kotlinc="$kotlin_home/bin/kotlinc"
stdlib="$kotlin_home/lib/kotlin-stdlib.jar"
coroutines="$kotlin_home/lib/kotlinx-coroutines-core-jvm.jar"
for jar in "$stdlib" "$coroutines" "$java_share/jna.jar" "$java_share/junit-platform-console-standalone.jar"; do
  [[ -f "$jar" ]] || { echo "missing $jar" >&2; exit 1; }
done
junit_cp="$java_share/junit-jupiter-api.jar:$java_share/junit-jupiter-engine.jar:$java_share/junit-platform-commons.jar"
junit_cp+=":$java_share/junit-platform-engine.jar:$java_share/junit-platform-launcher.jar"
junit_cp+=":$java_share/opentest4j.jar:$java_share/apiguardian-api.jar"

echo "kotlin: compiling the JVM bindings and the suite"
"$kotlinc" -nowarn -jvm-target 17 \
  -cp "$java_share/jna.jar:$coroutines:$junit_cp" \
  -d "$work/classes" \
  "$bindings/kotlin/org/doze/doze.kt" "$bindings/kotlin/org/doze/core/doze_core.kt" \
  "$here"/src/test/kotlin/org/doze/test/*.kt

# The Kotlin snippets of bindings/README.md and of the project README (when it has one) must
# compile against the generated bindings.
snippets=0
for readme in "$here/../README.md" "$here/../../README.md"; do
  snippet_dir="$work/snippet-$snippets"
  mkdir -p "$snippet_dir"
  awk '/^```kotlin$/ { on = 1; next } /^```$/ { on = 0 } on' "$readme" >"$snippet_dir/snippet.txt"
  [[ -s "$snippet_dir/snippet.txt" ]] || continue
  if grep -qE '^(suspend )?(fun|class|object) ' "$snippet_dir/snippet.txt"; then
    cp "$snippet_dir/snippet.txt" "$snippet_dir/Snippet.kt"
  else
    # A fragment: its statements become the body of a function whose parameters are the names
    # such fragments leave free.
    {
      grep -E '^import ' "$snippet_dir/snippet.txt"
      echo 'import org.doze.*'
      echo 'import org.doze.core.*'
      echo '@Suppress("UNUSED_VARIABLE", "UNUSED_PARAMETER")'
      echo 'suspend fun readmeFragment(config: WalletConfig, mnemonic: String, input: String, payload: ByteArray, headers: Map<String, String>) {'
      grep -vE '^import ' "$snippet_dir/snippet.txt"
      echo '}'
    } >"$snippet_dir/Snippet.kt"
  fi
  echo "kotlin: compiling the Kotlin snippet of $(realpath --relative-to="$here/../.." "$readme") against the bindings"
  "$kotlinc" -nowarn -jvm-target 17 -cp "$work/classes:$java_share/jna.jar:$coroutines" \
    -d "$snippet_dir/classes" "$snippet_dir/Snippet.kt"
  snippets=$((snippets + 1))
done
[[ "$snippets" -gt 0 ]] || { echo "no Kotlin snippet in bindings/README.md" >&2; exit 1; }

echo "kotlin: compiling the Android flavour against stubs of android.os.Build, android.system.SystemCleaner, androidx.annotation.RequiresApi"
stubs=$(find "$here/android-stubs" -name '*.java')
# shellcheck disable=SC2086 # one path per stub, no spaces
javac -nowarn -d "$work/android-stubs" $stubs
referenced=$(cat "$bindings/kotlin-android/org/doze/doze.kt" "$bindings/kotlin-android/org/doze/core/doze_core.kt" |
  grep -oE '\bandroidx?(\.[a-z]+)+\.[A-Z][A-Za-z]*' | sort -u | tr '\n' ' ')
echo "kotlin: the Android flavour references: $referenced"
if [[ "$referenced" != "android.os.Build android.system.SystemCleaner androidx.annotation.RequiresApi " ]]; then
  echo "kotlin: the generated Android code references other Android classes than the stubs cover" >&2
  exit 1
fi
"$kotlinc" -nowarn -jvm-target 17 \
  -cp "$java_share/jna.jar:$coroutines:$work/android-stubs" \
  -d "$work/android-classes" \
  "$bindings/kotlin-android/org/doze/doze.kt" "$bindings/kotlin-android/org/doze/core/doze_core.kt"
test -f "$work/android-classes/org/doze/Wallet.class"
test -f "$work/android-classes/org/doze/core/WalletConfig.class"

echo "kotlin: running the JUnit suite"
java -Djna.library.path="$libdir" \
  -jar "$java_share/junit-platform-console-standalone.jar" \
  -cp "$work/classes:$stdlib:$coroutines:$java_share/jna.jar:$junit_cp" \
  --select-package org.doze.test \
  --disable-banner --disable-ansi-colors --details=tree \
  --reports-dir "$work/reports" | tee "$work/junit.log"
