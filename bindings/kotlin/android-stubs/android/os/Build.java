package android.os;

/** Compile-time stub of the one Android class field the generated Android flavour reads. */
public class Build {
    public static class VERSION {
        public static final int SDK_INT = 0;
    }

    public static class VERSION_CODES {
        public static final int UPSIDE_DOWN_CAKE = 34;
    }
}
