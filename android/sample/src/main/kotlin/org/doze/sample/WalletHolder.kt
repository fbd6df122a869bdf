package org.doze.sample

import android.content.Context
import org.doze.Wallet
import org.doze.core.ChainSource
import org.doze.core.LspConfig
import org.doze.core.Network
import org.doze.core.WalletConfig

/**
 * One [Wallet] per process, created from the recovery phrase the app keeps (in this sample a
 * placeholder: a real app stores it encrypted with an Android Keystore key).
 */
object WalletHolder {
    @Volatile private var wallet: Wallet? = null

    fun wallet(context: Context): Wallet = wallet ?: synchronized(this) {
        wallet ?: Wallet(config(context), SecretStore.mnemonic(context)).also { wallet = it }
    }

    fun config(context: Context) = WalletConfig(
        network = Network.SIGNET,
        storageDir = context.filesDir.resolve("doze").absolutePath,
        chainSource = ChainSource.Esplora("https://mutinynet.com/api"),
        lsp = LspConfig(
            nodeId = "02...lsp node id...",
            address = "lsp.example.com:9735",
            apiUrl = "https://lsp.example.com",
        ),
        rgsUrl = "https://rgs.example.com/snapshot",
        backgroundSync = true,
    )

    fun pendingFcmToken(context: Context, token: String) {
        context.getSharedPreferences("doze", Context.MODE_PRIVATE).edit().putString("fcm_token", token).apply()
    }
}

/** Placeholder for the app's encrypted storage of the recovery phrase. */
object SecretStore {
    fun mnemonic(context: Context): String =
        context.getSharedPreferences("doze-secret", Context.MODE_PRIVATE).getString("mnemonic", null)
            ?: error("no wallet yet: create one with generateMnemonic(WordCount.WORDS12) in the app")
}
