package org.doze.test

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.time.Duration
import java.util.concurrent.TimeUnit
import org.doze.core.ChainSource
import org.doze.core.DomainRoute
import org.doze.core.LspConfig
import org.doze.core.NameResolutionConfig
import org.doze.core.Network
import org.doze.core.WalletConfig

/** A fixed test phrase (never used for real funds). */
const val MNEMONIC =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

/**
 * The running `doze-test-scene` (devnet, funded LSP, merchant with a channel to the LSP): its
 * description and its HTTP control API. Stopped by closing its standard input.
 */
class Scene private constructor(private val process: Process, val info: Map<String, String>) : AutoCloseable {
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()

    companion object {
        /** Starts the scene; `--async` gives the async-payment topology (see doze-test-scene). */
        fun start(vararg args: String): Scene {
            val target = System.getenv("CARGO_TARGET_DIR") ?: (System.getProperty("user.home") + "/.cache/doze-target")
            val binary = System.getenv("DOZE_TEST_SCENE") ?: "$target/debug/examples/doze-test-scene"
            check(File(binary).exists()) { "$binary is missing: cargo build -p doze-ffi --examples" }
            val process = ProcessBuilder(listOf(binary) + args).redirectError(ProcessBuilder.Redirect.INHERIT).start()
            val line = process.inputStream.bufferedReader().readLine()
                ?: error("doze-test-scene exited with ${process.waitFor()} before it was ready")
            return Scene(process, parseFlatJson(line))
        }

        /** Parses a flat JSON object of strings, numbers and booleans (all the scene sends). */
        fun parseFlatJson(text: String): Map<String, String> =
            Regex("\"([^\"]+)\"\\s*:\\s*(\"((?:[^\"\\\\]|\\\\.)*)\"|[^,}\\s]+)").findAll(text).associate { m ->
                m.groupValues[1] to (if (m.groupValues[2].startsWith("\"")) m.groupValues[3] else m.groupValues[2])
            }
    }

    fun call(path: String, body: String = "{}", timeoutSecs: Long = 120): Map<String, String> {
        val request = HttpRequest.newBuilder(URI.create(info.getValue("control_url") + path))
            .timeout(Duration.ofSeconds(timeoutSecs))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == 200) { "$path answered ${response.statusCode()}: ${response.body()}" }
        return parseFlatJson(response.body())
    }

    fun merchantPays(bolt11: String): Boolean = call("/merchant/pay", "{\"bolt11\":\"$bolt11\"}")["paid"] == "true"

    fun merchantInvoice(amountMsat: Long): Map<String, String> = call("/merchant/invoice", "{\"amount_msat\":$amountMsat}")

    fun merchantStatus(paymentHash: String): String =
        call("/merchant/received", "{\"payment_hash\":\"$paymentHash\"}").getValue("status")

    /** A push notification signed by the scene's LSP, as its dispatcher sends it. */
    fun lspPush(): Pair<ByteArray, Map<String, String>> {
        val push = call("/lsp/push")
        val payload = push.getValue("payload_hex").chunked(2).map { it.toInt(16).toByte() }.toByteArray()
        return payload to mapOf("x-lsps5-timestamp" to push.getValue("timestamp"), "x-lsps5-signature" to push.getValue("signature"))
    }

    fun mine(blocks: Int) = call("/mine", "{\"blocks\":$blocks}")

    fun config(storageDir: String, maxJitFeeMsat: ULong? = null) = WalletConfig(
        network = Network.REGTEST,
        storageDir = storageDir,
        chainSource = ChainSource.Esplora(info.getValue("esplora_url")),
        lsp = LspConfig(
            nodeId = info.getValue("lsp_node_id"),
            address = info.getValue("lsp_address"),
            apiUrl = info.getValue("lsp_api_url"),
        ),
        maxJitFeeMsat = maxJitFeeMsat,
        backgroundSync = false,
        nameResolution = nameResolution(),
    )

    /**
     * The scene's DoH server, and `shop.test`'s Lightning Addresses at its LNURL server (plain
     * http to loopback: allowed on regtest only); `null` for scenes without them.
     */
    fun nameResolution(): NameResolutionConfig? {
        val lnurlBaseUrl = info["lnurl_base_url"] ?: return null
        return NameResolutionConfig(
            dohUrl = info.getValue("doh_url"),
            timeoutSecs = 10u,
            domainRoutes = listOf(DomainRoute(domain = "shop.test", baseUrl = lnurlBaseUrl)),
        )
    }

    /** A GET of the devnet's Esplora API (e.g. `/tx/<txid>`): the body. */
    fun esplora(path: String): String {
        val request = HttpRequest.newBuilder(URI.create(info.getValue("esplora_url") + path))
            .timeout(Duration.ofSeconds(30))
            .GET()
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == 200) { "$path answered ${response.statusCode()}: ${response.body()}" }
        return response.body()
    }

    override fun close() {
        process.outputStream.close()
        if (!process.waitFor(60, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}

/** Re-checks [condition] until it holds; fails after [timeoutMs]. */
fun waitUntil(what: String, timeoutMs: Long = 90_000, describe: () -> String = { "" }, condition: () -> Boolean) {
    val deadline = System.nanoTime() + timeoutMs * 1_000_000
    var pause = 50L
    while (!condition()) {
        check(System.nanoTime() < deadline) { "timed out after $timeoutMs ms waiting until $what ${describe()}" }
        Thread.sleep(pause)
        pause = minOf(pause * 2, 1000)
    }
}
