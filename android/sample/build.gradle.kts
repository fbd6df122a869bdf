// A sample app showing Doze's push-wake path on Android: FCM delivers the LSP's push,
// DozePushService starts WakeService in the foreground, which calls Wallet.handlePush; and the
// wallet's lifecycle: SampleApp pauses it in the background and resumes it in the foreground.
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.doze.sample"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.doze.sample"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
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
    implementation(project(":doze"))
    implementation("com.google.firebase:firebase-messaging:24.1.0")
    implementation("androidx.core:core-ktx:1.15.0")
    // ProcessLifecycleOwner: the app's trips to the background (WalletLifecycle).
    implementation("androidx.lifecycle:lifecycle-process:2.8.7")
}
