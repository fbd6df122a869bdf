package org.doze.test

import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import org.doze.EventListener
import org.doze.core.BackupConfig
import org.doze.core.Balances
import org.doze.core.ChannelCloseKind
import org.doze.core.ChannelState
import org.doze.core.LifecycleState
import org.doze.core.LogEntry
import org.doze.core.LogLevel
import org.doze.LogListener
import org.doze.core.Network
import org.doze.ParseException
import org.doze.core.PaymentRequest
import org.doze.core.ResolutionMethod
import org.doze.core.SendBlocker
import org.doze.core.WakeEnd
import org.doze.parse
import org.doze.core.PaymentDirection
import org.doze.core.PaymentKind
import org.doze.core.PaymentStatus
import org.doze.PushException
import org.doze.core.PushTarget
import org.doze.ReceiveException
import org.doze.SendException
import org.doze.Wallet
import org.doze.core.WalletEvent
import org.doze.core.WalletEventKind
import org.doze.WalletException
import org.doze.initLogging
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.MethodOrderer
import org.junit.jupiter.api.Order
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.TestMethodOrder

/** Records events and lets a test wait for one. */
class Recorder : EventListener {
    val events = CopyOnWriteArrayList<WalletEvent>()
    private val lock = Object()

    override fun onEvent(event: WalletEvent) {
        synchronized(lock) {
            events.add(event)
            lock.notifyAll()
        }
    }

    fun waitFor(timeoutMs: Long = 90_000, what: (WalletEvent) -> Boolean): WalletEvent {
        val deadline = System.currentTimeMillis() + timeoutMs
        synchronized(lock) {
            while (true) {
                events.firstOrNull(what)?.let { return it }
                val left = deadline - System.currentTimeMillis()
                check(left > 0) { "no matching event within $timeoutMs ms; got $events" }
                lock.wait(left)
            }
        }
    }
}

class Logs : LogListener {
    val entries = CopyOnWriteArrayList<LogEntry>()
    override fun log(entry: LogEntry) {
        entries.add(entry)
    }
}

/**
 * A real wallet on the devnet through the generated Kotlin bindings: created from a recovery
 * phrase, started, paid through the LSP by the merchant (JIT channel), paying the merchant,
 * history, events, typed errors, stop. The tests share one wallet and run in order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation::class)
class WalletTest {
    private lateinit var scene: Scene
    private lateinit var wallet: Wallet
    private val recorder = Recorder()
    private val logs = Logs()
    private val storage = Files.createTempDirectory("doze-kotlin-phone").toString()

    @BeforeAll
    fun setUp() {
        scene = Scene.start()
        initLogging(LogLevel.INFO, logs)
        wallet = Wallet(scene.config(storage), MNEMONIC)
        wallet.setEventListener(recorder)
    }

    @AfterAll
    fun tearDown() {
        if (wallet.state() == LifecycleState.RUNNING) wallet.stopBlocking()
        wallet.close()
        scene.close()
    }

    @Test @Order(1)
    fun `starts from a recovery phrase`() = runBlocking<Unit> {
        assertEquals(LifecycleState.CREATED, wallet.state())
        wallet.start()
        assertEquals(LifecycleState.RUNNING, wallet.state())
        assertTrue(Regex("0[23][0-9a-f]{64}").matches(wallet.nodeId()))
        assertEquals(0uL, wallet.balances().lightningSpendableSat)
        assertTrue(wallet.listPayments().isEmpty())
        assertTrue(logs.entries.any { it.message.contains("wallet started") }, "logs reach the LogListener")
        assertThrows(WalletException.AlreadyRunning::class.java) { runBlocking { wallet.start() } }
        val second = Wallet(scene.config(storage), MNEMONIC)
        assertThrows(WalletException.StorageLocked::class.java) { second.startBlocking() }
        second.close()
    }

    @Test @Order(2)
    fun `receives 50k sat through the LSP`() = runBlocking<Unit> {
        val invoice = wallet.receiveBolt11(50_000_000uL, "first sats", 3600u)
        assertTrue(invoice.viaJitChannel, "no channel yet: the LSP opens one")
        assertTrue(scene.merchantPays(invoice.bolt11))
        val received = recorder.waitFor { it.kind is WalletEventKind.PaymentReceived }
        val kind = received.kind as WalletEventKind.PaymentReceived
        assertEquals(50_000_000uL, kind.amountMsat)
        assertEquals(invoice.paymentHash, kind.paymentHash)
        recorder.waitFor { it.kind is WalletEventKind.ChannelReady }
        waitUntil("the received sats are spendable") { wallet.balances().lightningSpendableSat > 45_000uL }
    }

    @Test @Order(3)
    fun `pays a merchant invoice`() = runBlocking<Unit> {
        val invoice = scene.merchantInvoice(20_000_000)
        val paymentId = wallet.payBolt11(invoice.getValue("bolt11"))
        val sent = recorder.waitFor { (it.kind as? WalletEventKind.PaymentSent)?.paymentId == paymentId }
        assertEquals("payment-sent:$paymentId", sent.id)
        waitUntil("the merchant has it") { scene.merchantStatus(invoice.getValue("payment_hash")) == "succeeded" }
        assertThrows(SendException.DuplicatePayment::class.java) {
            runBlocking { wallet.payBolt11(invoice.getValue("bolt11")) }
        }
    }

    @Test @Order(4)
    fun `lists payments`() {
        waitUntil("both payments settled", describe = { wallet.listPayments().toString() }) {
            wallet.listPayments().count { it.status == PaymentStatus.SUCCEEDED } == 2
        }
        val history = wallet.listPayments()
        assertEquals(listOf(PaymentKind.BOLT11_JIT), history.filter { it.direction == PaymentDirection.INBOUND }.map { it.kind })
        val outbound = history.single { it.direction == PaymentDirection.OUTBOUND }
        assertEquals(PaymentKind.BOLT11 to 20_000_000uL, outbound.kind to outbound.amountMsat)
    }

    @Test @Order(5)
    fun `errors are typed and carry messages`() = runBlocking<Unit> {
        val bad = assertThrows(SendException.InvalidInvoice::class.java) { runBlocking { wallet.payBolt11("lnbcrt1garbage") } }
        assertTrue(bad.message!!.contains("invoice"))
        val wrong = assertThrows(SendException.InvalidAmount::class.java) {
            runBlocking { wallet.payBolt11(scene.merchantInvoice(1_000_000).getValue("bolt11"), 2_000_000uL) }
        }
        assertTrue(wrong.message!!.contains("1000000 msat"))
        assertThrows(SendException.WrongNetwork::class.java) {
            runBlocking { wallet.sendOnchain("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", 1000uL) }
        }
        assertThrows(ReceiveException.InvalidAmount::class.java) { runBlocking { wallet.receiveBolt11(0uL, "zero", 60u) } }
        val headers = mapOf("x-lsps5-timestamp" to "2020-01-01T00:00:00.000Z", "x-lsps5-signature" to "00")
        val push = assertThrows(PushException.InvalidPush::class.java) { wallet.handlePushBlocking("{}".toByteArray(), headers, 5_000uL) }
        assertTrue(push.message!!.contains("expired"))
        assertThrows(PushException.OfferNotReady::class.java) { runBlocking { wallet.receiveOffer(200uL) } }
        assertThrows(PushException.RegistrationFailed::class.java) {
            runBlocking { wallet.registerForPush("doze-kotlin-tests", PushTarget.Webhook("ftp://127.0.0.1/push")) }
        }
        assertEquals(LifecycleState.RUNNING, wallet.state())
    }

    @Test @Order(6)
    fun `sync and concurrent calls`() = runBlocking<Unit> {
        scene.mine(1)
        wallet.sync()
        recorder.waitFor { it.kind is WalletEventKind.SyncCompleted }
        val a = async { wallet.receiveBolt11(1_000_000uL, "a", 600u) }
        val b = async { wallet.receiveBolt11(null, "any", 600u) }
        assertEquals(1_000_000uL, a.await().amountMsat)
        assertNull(b.await().amountMsat)
    }

    @Test @Order(7)
    fun `parses, quotes and sends`() = runBlocking<Unit> {
        val invoice = scene.merchantInvoice(5_000_000)
        val request = parse(invoice.getValue("bolt11"), Network.REGTEST) as PaymentRequest.Bolt11
        assertEquals(5_000_000uL, request.amountMsat)
        assertEquals(scene.info.getValue("merchant_node_id"), request.payeePubkey)
        val quote = wallet.prepareSend(invoice.getValue("bolt11"))
        assertNull(quote.blocker)
        val tooMuch = wallet.prepareSend(scene.merchantInvoice(900_000_000).getValue("bolt11"))
        assertTrue(tooMuch.blocker is SendBlocker.InsufficientBalance)
        assertThrows(SendException.InsufficientFunds::class.java) { runBlocking { wallet.send(tooMuch) } }
        val paymentId = wallet.send(quote)
        recorder.waitFor { (it.kind as? WalletEventKind.PaymentSent)?.paymentId == paymentId }
        assertThrows(ParseException.UnknownFormat::class.java) { parse("hello", Network.REGTEST) }
    }

    @Test @Order(8)
    fun `a Lightning Address is quoted then paid`() = runBlocking<Unit> {
        assertTrue(parse("₿alice@shop.test", Network.REGTEST) is PaymentRequest.Name)
        val terms = wallet.prepareSend("alice@shop.test")
        assertTrue(terms.blocker is SendBlocker.AmountRequired, terms.blocker.toString())
        assertTrue(terms.request is PaymentRequest.LnurlPay, terms.request.toString())
        val recipient = terms.recipient!!
        assertEquals("alice@shop.test", recipient.name)
        assertEquals(ResolutionMethod.LIGHTNING_ADDRESS, recipient.method)
        assertEquals(1_000uL to 100_000_000uL, recipient.minSendableMsat to recipient.maxSendableMsat)
        assertEquals("Pay alice at the test shop", recipient.description)

        val quote = wallet.prepareSend("₿alice@shop.test", 3_000_000uL)
        assertNull(quote.blocker)
        assertEquals(3_000_000uL, quote.amountMsat)
        assertTrue(quote.request is PaymentRequest.Bolt11, quote.request.toString())
        val invoice = quote.request as PaymentRequest.Bolt11
        assertEquals("alice@shop.test", quote.recipient?.name)
        val paymentId = wallet.send(quote)
        recorder.waitFor { (it.kind as? WalletEventKind.PaymentSent)?.paymentId == paymentId }
        waitUntil("the merchant has it") { scene.merchantStatus(invoice.paymentHash) == "succeeded" }
        waitUntil("the history has it", describe = { wallet.listPayments().toString() }) {
            wallet.listPayments().any { it.id == paymentId && it.status == PaymentStatus.SUCCEEDED }
        }
        val paid = wallet.listPayments().single { it.id == paymentId }
        assertEquals(PaymentDirection.OUTBOUND to 3_000_000uL, paid.direction to paid.amountMsat)
        assertEquals(invoice.paymentHash, paid.paymentHash)

        val unknown = assertThrows(SendException.NameResolution::class.java) {
            wallet.prepareSend("nobody@shop.test", 3_000_000uL)
        }
        assertTrue(unknown.message!!.contains("no payment record"), unknown.message)
    }

    @Test @Order(9)
    fun `a push while the app holds the wallet returns at once`() {
        Wallet(scene.config(storage), MNEMONIC).use { extension ->
            val (payload, headers) = scene.lspPush()
            val outcome = extension.handlePushBlocking(payload, headers, 20_000uL)
            assertEquals(WakeEnd.APP_HOLDS_WALLET, outcome.ended)
            assertEquals(LifecycleState.RUNNING, wallet.state())
        }
    }

    @Test @Order(10)
    fun `pause lets go of the wallet and resume brings it back`() = runBlocking<Unit> {
        // onStop / onStart: a paused wallet holds no lock and no open database.
        val before = wallet.listPayments()
        wallet.pause()
        assertEquals(LifecycleState.PAUSED, wallet.state())
        val paused = assertThrows(WalletException.Paused::class.java) { wallet.nodeId() }
        assertTrue(paused.message!!.contains("resume()"))
        assertThrows(SendException.Paused::class.java) {
            runBlocking { wallet.payBolt11(scene.merchantInvoice(1_000).getValue("bolt11")) }
        }
        assertEquals(before, wallet.listPayments())
        wallet.pauseBlocking()
        Wallet(scene.config(storage), MNEMONIC).use { extension ->
            val (payload, headers) = scene.lspPush()
            val outcome = extension.handlePushBlocking(payload, headers, 20_000uL)
            assertEquals(WakeEnd.NOTHING_PENDING, outcome.ended, outcome.toString())
        }
        wallet.resume()
        assertEquals(LifecycleState.RUNNING, wallet.state())
        assertEquals(before, wallet.listPayments())
        wallet.resumeBlocking()
        assertEquals(LifecycleState.RUNNING, wallet.state())
    }

    @Test @Order(11)
    fun `stops and restarts with the blocking variants`() = runBlocking<Unit> {
        val before = wallet.listPayments()
        wallet.stop()
        assertEquals(LifecycleState.STOPPED, wallet.state())
        assertThrows(WalletException.NotRunning::class.java) { wallet.nodeId() }
        wallet.startBlocking()
        assertEquals(before, wallet.listPayments())
        wallet.stopBlocking()
        assertEquals(LifecycleState.STOPPED, wallet.state())
        assertFalse(wallet.cachedOffer() != null)
    }

    @Test @Order(12)
    fun `a signed push wakes the stopped wallet and a replay is refused`() = runBlocking<Unit> {
        assertEquals(LifecycleState.STOPPED, wallet.state())
        Wallet(scene.config(storage), MNEMONIC).use { extension ->
            val (payload, headers) = scene.lspPush()
            val outcome = extension.handlePush(payload, headers, 20_000uL)
            assertEquals(WakeEnd.NOTHING_PENDING, outcome.ended, outcome.toString())
            assertTrue(outcome.payments.isEmpty() && outcome.dedupKey.startsWith("push:"))
            assertEquals(LifecycleState.STOPPED, extension.state())
            val replay = assertThrows(PushException.InvalidPush::class.java) { extension.handlePushBlocking(payload, headers, 20_000uL) }
            assertTrue(replay.message!!.contains("replayed"))
        }
    }

    @Test @Order(13)
    fun `lists its channel and closes it cooperatively, the balance back on-chain`() = runBlocking<Unit> {
        wallet.startBlocking()
        waitUntil("the channel is usable") { wallet.listChannels().any { it.state is ChannelState.Usable } }
        val channel = wallet.listChannels().single()
        assertTrue(channel.outboundSat > 0uL && channel.capacitySat >= channel.outboundSat + channel.inboundSat)
        val before = wallet.balances()
        assertTrue(before.lightningSat >= channel.outboundSat + channel.reserveSat)
        assertThrows(WalletException.UnknownChannel::class.java) {
            runBlocking { wallet.closeChannel("00".repeat(32)) }
        }
        wallet.closeChannel(channel.channelId)
        waitUntil("the channel is gone") { wallet.listChannels().isEmpty() }
        val closed = recorder.waitFor { (it.kind as? WalletEventKind.ChannelClosed)?.channelId == channel.channelId }
        assertEquals(ChannelCloseKind.COOPERATIVE, (closed.kind as WalletEventKind.ChannelClosed).closeKind)
        fun total(b: Balances) = b.lightningSat + b.onchainConfirmedSat + b.onchainUnconfirmedSat + b.pendingSat
        waitUntil("the channel's balance is on-chain") {
            scene.mine(1)
            runBlocking { wallet.sync() }
            val after = wallet.balances()
            // The LSP pays the closing fee: every sat comes back, none is counted twice.
            assertEquals(total(before), total(after), "$before -> $after")
            after.onchainConfirmedSat == before.onchainConfirmedSat + before.lightningSat
        }
        val received = wallet.listPayments().filter { it.kind == PaymentKind.ONCHAIN }
        assertEquals(listOf(before.lightningSat * 1000uL), received.map { it.amountMsat })
        wallet.stopBlocking()
    }

    @Test @Order(14)
    fun `a restore on a new phone has the same node id and on-chain funds`() = runBlocking<Unit> {
        wallet.startBlocking()
        val nodeId = wallet.nodeId()
        val onchain = wallet.balances().onchainConfirmedSat
        wallet.stopBlocking()
        val newPhone = Files.createTempDirectory("doze-kotlin-restored").toString()
        Wallet(scene.config(newPhone), MNEMONIC).use { restored ->
            restored.start()
            assertEquals(nodeId, restored.nodeId())
            waitUntil("the restored wallet finds the on-chain funds") {
                runBlocking { restored.sync() }
                restored.balances().onchainConfirmedSat == onchain
            }
            restored.stopBlocking()
        }
    }

    @Test @Order(15)
    fun `a backed-up wallet is restored with its channel and the old phone is refused`() = runBlocking<Unit> {
        // Its own phrase: its own node and its own keyspace on the backup server.
        val phrase = "legal winner thank year wave sausage worth useful legal winner thank yellow"
        fun backedUp(dir: String) = scene.config(dir).copy(backup = BackupConfig(scene.info.getValue("backup_url")))
        val oldDir = Files.createTempDirectory("doze-kotlin-old").toString()
        val old = Wallet(backedUp(oldDir), phrase)
        val events = Recorder()
        old.setEventListener(events)
        old.start()
        val invoice = old.receiveBolt11(30_000_000uL, "backed up", 3600u)
        assertTrue(scene.merchantPays(invoice.bolt11))
        events.waitFor { it.kind is WalletEventKind.PaymentReceived }
        waitUntil("the channel settles") {
            old.balances().let { it.lightningSpendableSat > 0uL && it.pendingSat == 0uL }
        }
        val nodeId = old.nodeId()
        val channels = old.listChannels().map { it.channelId }
        val spendable = old.balances().lightningSpendableSat
        old.stopBlocking()

        // The phone is lost; the phrase goes into a new one, with the same backup.
        val newDir = Files.createTempDirectory("doze-kotlin-new").toString()
        Wallet(backedUp(newDir), phrase).use { restored ->
            restored.start()
            assertEquals(nodeId, restored.nodeId())
            assertEquals(channels, restored.listChannels().map { it.channelId })
            assertEquals(spendable, restored.balances().lightningSpendableSat)
            restored.stopBlocking()
        }
        // The old phone, found again, must not run the same channel.
        val refused = assertThrows(WalletException.WalletMoved::class.java) { old.startBlocking() }
        assertTrue(refused.message!!.contains("another device"))
        old.close()
    }
}
