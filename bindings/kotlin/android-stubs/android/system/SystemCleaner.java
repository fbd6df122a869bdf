package android.system;

/** Compile-time stub: Android's process-wide cleaner (API 33+). */
public final class SystemCleaner {
    public static java.lang.ref.Cleaner cleaner() {
        throw new UnsupportedOperationException("stub");
    }
}
