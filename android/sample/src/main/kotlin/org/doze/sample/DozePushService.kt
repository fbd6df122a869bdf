package org.doze.sample

import android.content.Intent
import androidx.core.content.ContextCompat
import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage

/**
 * Receives the LSP's push (an FCM data message, high priority) and hands it to [WakeService].
 *
 * The push gateway puts the LSPS5 notification JSON in the `notification` data field and the
 * LSPS5 headers in `x-lsps5-timestamp` and `x-lsps5-signature`. `onMessageReceived` must return
 * quickly, and a high-priority message lets the app start a foreground service, so the wake
 * itself runs there.
 */
class DozePushService : FirebaseMessagingService() {
    override fun onMessageReceived(message: RemoteMessage) {
        val data = message.data
        val notification = data["notification"] ?: return
        val intent = Intent(this, WakeService::class.java)
            .putExtra(WakeService.EXTRA_PAYLOAD, notification)
            .putExtra(WakeService.EXTRA_TIMESTAMP, data["x-lsps5-timestamp"])
            .putExtra(WakeService.EXTRA_SIGNATURE, data["x-lsps5-signature"])
        ContextCompat.startForegroundService(this, intent)
    }

    override fun onNewToken(token: String) {
        // Register the new token with the LSP the next time the wallet runs in the app:
        // wallet.registerForPush("org.doze.sample", PushTarget.Fcm(token)).
        WalletHolder.pendingFcmToken(this, token)
    }
}
