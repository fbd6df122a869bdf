package org.doze.test

import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import org.doze.PushException
import org.doze.Wallet
import org.doze.core.LifecycleState
import org.doze.core.PushTarget
import org.doze.core.WakeEnd
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * The heart of Doze through the Kotlin bindings: the wallet registers for push and gets an
 * offline offer, then stops; a sender behind its own LSP pays the offer; the LSP pushes; a fresh
 * Wallet (the foreground service's stand-in) calls handlePush, which receives the payment.
 */
class OfflineReceiveTest {
    @Test
    fun `an offline wallet is pushed awake and paid`() = runBlocking<Unit> {
        Scene.start("--async").use { scene ->
            val config = scene.config(Files.createTempDirectory("doze-kotlin-offline").toString())
            val app = Wallet(config, PHONE_MNEMONIC)
            app.setEventListener(Recorder())
            app.start()
            val phoneId = app.nodeId()
            scene.call("/async/open_channel", "{\"node_id\":\"$phoneId\",\"sats\":200000}")
            waitUntil("the wallet's channel is usable and it knows both LSPs", timeoutMs = 150_000) {
                runBlocking { app.sync() }
                app.balances().lightningInboundSat > 0uL &&
                    app.knowsNode(scene.info.getValue("lsp_b_node_id")) &&
                    app.knowsNode(scene.info.getValue("lsp_node_id"))
            }
            // As the OfferNotReady message says: stay online and retry. Registering again
            // reconnects to the LSP, which makes LDK build the offer at once.
            var offer = ""
            for (attempt in 1..3) {
                val registration = app.registerForPush("doze-kotlin", PushTarget.Webhook(scene.info.getValue("webhook_url")))
                assertEquals(scene.info.getValue("lsp_node_id"), registration.lspNodeId)
                try {
                    offer = app.receiveOffer(60_000uL)
                    break
                } catch (e: PushException.OfferNotReady) {
                    if (attempt == 3) throw e
                }
            }
            assertTrue(offer.startsWith("lno"))
            app.stop()
            app.close() // the app's process is gone
            scene.call("/async/wait_offline", "{\"node_id\":\"$phoneId\"}")

            scene.call("/async/pay_offer", "{\"offer\":\"$offer\",\"amount_msat\":$AMOUNT_MSAT}")
            val push = scene.call("/async/wait_push", timeoutSecs = 180)
            val payload = push.getValue("payload_hex").chunked(2).map { it.toInt(16).toByte() }.toByteArray()
            val headers = mapOf("x-lsps5-timestamp" to push.getValue("timestamp"), "x-lsps5-signature" to push.getValue("signature"))

            Wallet(config, PHONE_MNEMONIC).use { service ->
                val outcome = service.handlePush(payload, headers, 25_000uL)
                assertEquals(WakeEnd.PAID, outcome.ended, outcome.toString())
                assertEquals(listOf(AMOUNT_MSAT.toULong()), outcome.payments.map { it.amountMsat })
                assertEquals("Received 21,000 sats", outcome.notificationText)
                assertEquals(LifecycleState.STOPPED, service.state())
                assertEquals("true", scene.call("/async/sender_outcome")["paid"])
                val replay = assertThrows(PushException.InvalidPush::class.java) { service.handlePushBlocking(payload, headers, 25_000uL) }
                assertTrue(replay.message!!.contains("replayed"))
            }
        }
    }

    private companion object {
        const val PHONE_MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
        const val AMOUNT_MSAT = 21_000_000L
    }
}
