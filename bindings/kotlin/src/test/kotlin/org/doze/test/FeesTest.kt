package org.doze.test

import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import org.doze.ReceiveException
import org.doze.SendException
import org.doze.Wallet
import org.doze.core.OnchainFee
import org.doze.core.WalletEventKind
import org.doze.core.WordCount
import org.doze.generateMnemonic
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/** A regtest address nobody in these tests owns (BIP173's test program). */
const val ELSEWHERE = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"

/**
 * Fees the user sees, through the Kotlin bindings, against a scene whose LSP charges for JIT
 * channels: the fee of a new channel shown with the invoice and refused above the app's limit,
 * and an on-chain send at a chosen fee rate.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FeesTest {
    private lateinit var scene: Scene

    @BeforeAll
    fun setUp() {
        scene = Scene.start("--lsp-fees")
    }

    @AfterAll
    fun tearDown() {
        scene.close()
    }

    @Test
    fun `a JIT channel fee is shown before sharing and capped`() = runBlocking<Unit> {
        val ppm = scene.info.getValue("jit_fee_ppm").toULong()
        val minFee = scene.info.getValue("jit_min_fee_msat").toULong()
        val amount = 150_000_000uL
        val fee = maxOf(minFee, (amount * ppm + 999_999uL) / 1_000_000uL) // 1 %, rounded up
        val mnemonic = generateMnemonic(WordCount.WORDS12)
        val storage = Files.createTempDirectory("doze-kotlin-jit").toString()

        val capped = Wallet(scene.config(storage, maxJitFeeMsat = 1_000_000uL), mnemonic)
        capped.start()
        val terms = capped.jitFeeTerms()
        assertEquals(minFee to ppm.toUInt(), terms.minFeeMsat to terms.proportionalPpm)
        val refused = assertThrows(ReceiveException.JitFeeTooHigh::class.java) {
            runBlocking { capped.receiveBolt11(amount, "too dear", 3600u) }
        }
        assertEquals(
            "the LSP asks 1,500 sat to open a channel for this payment; your limit is 1,000 sat",
            refused.message,
        )
        capped.stopBlocking()
        capped.close()

        val wallet = Wallet(scene.config(storage, maxJitFeeMsat = fee), mnemonic)
        val recorder = Recorder()
        wallet.setEventListener(recorder)
        wallet.start()
        assertTrue(wallet.listPayments().isEmpty(), "the refusal created nothing")
        val invoice = wallet.receiveBolt11(amount, "coffee", 3600u)
        assertTrue(invoice.viaJitChannel)
        assertEquals(fee, invoice.lspFeeMsat)
        assertTrue(scene.merchantPays(invoice.bolt11))
        val received = recorder.waitFor { it.kind is WalletEventKind.PaymentReceived }.kind
        assertEquals(amount - fee, (received as WalletEventKind.PaymentReceived).amountMsat, "the LSP took what it quoted")
        wallet.stopBlocking()
        wallet.close()
    }

    @Test
    fun `an on-chain send pays the chosen fee rate`() = runBlocking<Unit> {
        val storage = Files.createTempDirectory("doze-kotlin-onchain").toString()
        val wallet = Wallet(scene.config(storage), generateMnemonic(WordCount.WORDS12))
        wallet.start()
        val estimates = wallet.onchainFeeEstimates()
        assertTrue(estimates.nextBlockSatPerVb >= estimates.economySatPerVb && estimates.economySatPerVb >= 1.0)
        scene.call("/fund", "{\"address\":\"${wallet.newOnchainAddress()}\",\"amount_sat\":200000}")
        scene.mine(1)
        waitUntil("the wallet's funds confirm") {
            runBlocking { wallet.sync() }
            wallet.balances().onchainSpendableSat == 200_000uL
        }
        val low = assertThrows(SendException.InvalidFeeRate::class.java) {
            runBlocking { wallet.sendOnchain(ELSEWHERE, 10_000uL, OnchainFee.Rate(0uL)) }
        }
        assertTrue(low.message!!.contains("below 1 sat/vB"), low.message)

        val txid = wallet.sendOnchain(ELSEWHERE, 50_000uL, OnchainFee.Rate(6uL))
        val tx = scene.esplora("/tx/$txid")
        val fee = Regex("\"fee\":(\\d+)").find(tx)!!.groupValues[1].toDouble()
        val weight = Regex("\"weight\":(\\d+)").find(tx)!!.groupValues[1].toDouble()
        // Sat per vbyte of weight, as the wallet prices it.
        assertEquals(6.0, fee * 4 / weight, 0.06, "paid $fee sat for $weight WU")
        wallet.stopBlocking()
        wallet.close()
    }
}
