package org.doze.sample

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.Service
import android.content.Intent
import android.content.pm.ServiceInfo
import android.os.Build
import android.os.IBinder
import androidx.core.app.NotificationCompat
import androidx.core.app.ServiceCompat
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import org.doze.PushException
import org.doze.core.WakeEnd

/**
 * One push wake in a short foreground service: calls [org.doze.Wallet.handlePush] with the
 * push's payload and headers, shows the outcome's notification text, and stops.
 *
 * `handlePush` verifies the push first (nothing starts for a forged or replayed one), takes the
 * wallet's storage lock (if the app itself runs the wallet it answers `AppHoldsWallet` and the
 * app's own event listener shows the payment), receives what the LSP holds, and stops the
 * wallet before returning: within the deadline plus a clean stop.
 */
class WakeService : Service() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)

    override fun onBind(intent: Intent?): IBinder? = null

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        ServiceCompat.startForeground(
            this, WORKING_ID, progressNotification(),
            if (Build.VERSION.SDK_INT >= 34) ServiceInfo.FOREGROUND_SERVICE_TYPE_SHORT_SERVICE else 0,
        )
        val payload = intent?.getStringExtra(EXTRA_PAYLOAD)?.toByteArray() ?: run {
            stopSelf(startId)
            return START_NOT_STICKY
        }
        val headers = buildMap {
            intent.getStringExtra(EXTRA_TIMESTAMP)?.let { put("x-lsps5-timestamp", it) }
            intent.getStringExtra(EXTRA_SIGNATURE)?.let { put("x-lsps5-signature", it) }
        }
        scope.launch {
            try {
                val wallet = WalletHolder.wallet(this@WakeService)
                val outcome = wallet.handlePush(payload, headers, DEADLINE_MS)
                if (outcome.ended != WakeEnd.APP_HOLDS_WALLET && outcome.ended != WakeEnd.NOTHING_PENDING) {
                    // dedupKey is the payment's event id: the app's listener shows it at most once too.
                    show(outcome.dedupKey.hashCode(), outcome.notificationText)
                }
            } catch (e: PushException.InvalidPush) {
                // Forged, expired or replayed: nothing was started, nothing to show.
            } catch (e: Exception) {
                show(ERROR_ID, "Could not receive a payment: ${e.message}")
            } finally {
                ServiceCompat.stopForeground(this@WakeService, ServiceCompat.STOP_FOREGROUND_REMOVE)
                stopSelf(startId)
            }
        }
        return START_NOT_STICKY
    }

    private fun channel(): String {
        val manager = getSystemService(NotificationManager::class.java)
        manager.createNotificationChannel(NotificationChannel(CHANNEL, "Payments", NotificationManager.IMPORTANCE_DEFAULT))
        return CHANNEL
    }

    private fun progressNotification(): Notification =
        NotificationCompat.Builder(this, channel())
            .setSmallIcon(android.R.drawable.stat_sys_download)
            .setContentTitle("Receiving a payment…")
            .setOngoing(true)
            .build()

    private fun show(id: Int, text: String) {
        val notification = NotificationCompat.Builder(this, channel())
            .setSmallIcon(android.R.drawable.stat_sys_download_done)
            .setContentTitle("Doze")
            .setContentText(text)
            .build()
        getSystemService(NotificationManager::class.java).notify(id, notification)
    }

    companion object {
        const val EXTRA_PAYLOAD = "org.doze.sample.PAYLOAD"
        const val EXTRA_TIMESTAMP = "org.doze.sample.TIMESTAMP"
        const val EXTRA_SIGNATURE = "org.doze.sample.SIGNATURE"
        private const val CHANNEL = "payments"
        private const val WORKING_ID = 1
        private const val ERROR_ID = 2

        /** A short service may run ~3 minutes; a wake needs seconds. Leave room for the stop. */
        private const val DEADLINE_MS = 25_000uL
    }
}
