// The Doze AAR: generated Kotlin bindings (src/main/kotlin, written by ../build-android.sh)
// plus the native library for each ABI (src/main/jniLibs/<abi>/libdoze.so).
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.doze"
    compileSdk = 35
    // NDK r27+ links 16 KB-aligned by default; build-android.sh also passes
    // -Wl,-z,max-page-size=16384 so that Android 15+ devices with 16 KB pages load it.
    ndkVersion = "27.2.12479018"

    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    sourceSets {
        getByName("main") {
            kotlin.srcDirs("src/main/kotlin")
            jniLibs.srcDirs("src/main/jniLibs")
        }
    }

    buildTypes {
        release {
            // The Rust side is already size-optimised (profile release-ffi: opt-level z, LTO,
            // one codegen unit, stripped); R8 shrinks the Kotlin side in the app.
            isMinifyEnabled = false
        }
    }

    packaging {
        jniLibs {
            // Keep libdoze.so uncompressed and page-aligned in the APK (loaded in place).
            useLegacyPackaging = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
}

dependencies {
    // uniffi's Kotlin code calls the library through JNA (the AAR brings Android's libjnidispatch).
    api("net.java.dev.jna:jna:5.14.0@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.1")
    implementation("androidx.annotation:annotation:1.9.1")
}
