package org.doze.test

import java.nio.file.Files
import org.doze.MnemonicException
import org.doze.ReceiveException
import org.doze.Wallet
import org.doze.WalletException
import org.doze.core.ChainSource
import org.doze.core.LifecycleState
import org.doze.core.Network
import org.doze.core.WalletConfig
import org.doze.core.WordCount
import org.doze.dozeVersion
import org.doze.generateMnemonic
import org.doze.parseMnemonic
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The API without a network: recovery phrases, typed errors, configuration defaults. */
class ApiTest {
    private fun config(dir: String) = WalletConfig(Network.REGTEST, dir, ChainSource.Esplora("http://127.0.0.1:9"))

    @Test
    fun `generates and parses recovery phrases`() {
        val phrase = generateMnemonic(WordCount.WORDS24)
        assertEquals(24, phrase.split(" ").size)
        assertEquals(phrase, parseMnemonic(phrase.uppercase().replace(" ", "  \n")))
    }

    @Test
    fun `bad phrases throw typed exceptions with messages`() {
        val count = assertThrows(MnemonicException.WrongWordCount::class.java) { parseMnemonic("abandon ".repeat(11)) }
        assertTrue(count.message!!.contains("12 or 24 words"))
        val unknown = assertThrows(MnemonicException.UnknownWord::class.java) { parseMnemonic(MNEMONIC.replaceFirst("abandon", "abandn")) }
        assertTrue(unknown.message!!.contains("word 1 "))
        assertFalse(unknown.message!!.contains("abandn"), "a mistyped word is never echoed")
        assertThrows(MnemonicException.BadChecksum::class.java) { parseMnemonic("abandon ".repeat(12)) }
    }

    @Test
    fun `wallet construction checks phrase and config`() {
        val dir = Files.createTempDirectory("doze-kotlin-api").toString()
        assertThrows(WalletException.InvalidMnemonic::class.java) { Wallet(config(dir), "abandon ".repeat(12)) }
        val empty = assertThrows(WalletException.InvalidConfig::class.java) { Wallet(config(""), MNEMONIC) }
        assertTrue(empty.message!!.contains("storage_dir"))
        Wallet(config(dir), MNEMONIC).use { wallet ->
            assertEquals(LifecycleState.CREATED, wallet.state())
            assertThrows(WalletException.NotRunning::class.java) { wallet.balances() }
            assertThrows(ReceiveException.NotRunning::class.java) { wallet.newOnchainAddress() }
        }
        val defaults = config(dir)
        assertTrue(defaults.backgroundSync)
        assertEquals(null, defaults.lsp)
    }

    @Test
    fun `reports its version`() {
        assertEquals(2, dozeVersion().count { it == '.' })
    }
}
