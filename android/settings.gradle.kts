// Doze for Android: the `doze` library module (an AAR with the uniffi Kotlin bindings and
// libdoze.so for arm64-v8a, armeabi-v7a and x86_64) and a sample app module showing the
// push-wake path. Build the native libraries first: ./build-android.sh
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "doze-android"
include(":doze")
include(":sample")
