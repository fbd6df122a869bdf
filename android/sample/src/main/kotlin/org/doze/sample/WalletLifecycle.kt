package org.doze.sample

import android.app.Application
import android.content.Context
import android.util.Log
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import org.doze.WalletException
import org.doze.core.LifecycleState

/**
 * Runs the wallet while the app is in the foreground and pauses it in the background: the
 * process's lifecycle ([ProcessLifecycleOwner]), so that moving between activities does not
 * pause it. `onStart` resumes (or starts) the wallet; `onStop` pauses it.
 *
 * Why pause on Android: a paused wallet holds no node, no storage lock and no open database
 * (on iOS this is what keeps a suspended app from being killed, 0xdead10cc), so a push wakes
 * the wallet in [WakeService] through the lean wake path instead of finding the app's node
 * running in the background, nothing drains the battery while the user is away, and the
 * process can be killed with nothing open. A payment in flight completes after `resume()`, or
 * in a wake meanwhile.
 *
 * The calls go through one channel, consumed in order: a quick trip to the background and back
 * pauses, then resumes.
 */
class WalletLifecycle(private val context: Context) : DefaultLifecycleObserver {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    private val foreground = Channel<Boolean>(Channel.UNLIMITED)

    init {
        scope.launch {
            for (inForeground in foreground) {
                val wallet = WalletHolder.wallet(context)
                try {
                    if (inForeground) bringBack(wallet) else wallet.pause()
                } catch (e: WalletException.WalletMoved) {
                    // Restored on another device: this one must not run it. Tell the user.
                    Log.w(TAG, e.message ?: "wallet moved")
                } catch (e: Exception) {
                    Log.w(TAG, "wallet lifecycle: ${e.message}")
                }
            }
        }
    }

    override fun onStart(owner: LifecycleOwner) {
        foreground.trySend(true)
    }

    override fun onStop(owner: LifecycleOwner) {
        foreground.trySend(false)
    }

    private suspend fun bringBack(wallet: org.doze.Wallet) {
        // A wake in WakeService may hold the wallet for a moment.
        repeat(20) {
            try {
                when (wallet.state()) {
                    LifecycleState.PAUSED -> wallet.resume()
                    LifecycleState.CREATED, LifecycleState.STOPPED -> wallet.start()
                    else -> {}
                }
                return
            } catch (e: WalletException.StorageLocked) {
                delay(500)
            }
        }
    }

    private companion object {
        const val TAG = "Doze"
    }
}

/** The sample's application: the wallet follows the app's trips to the background. */
class SampleApp : Application() {
    override fun onCreate() {
        super.onCreate()
        ProcessLifecycleOwner.get().lifecycle.addObserver(WalletLifecycle(this))
    }
}
