// What the app and its notification extension share: compiled into both targets.

import Doze
import Foundation
import Security

/// What the app and its extension share: the configuration and the recovery phrase.
enum SharedWallet {
    static let appGroup = "group.org.doze.sample"

    static func config() throws -> WalletConfig {
        guard let container = FileManager.default.containerURL(forSecurityApplicationGroupIdentifier: appGroup) else {
            throw CocoaError(.fileNoSuchFile)
        }
        return WalletConfig(
            network: .signet,
            storageDir: container.appendingPathComponent("doze").path,
            chainSource: .esplora(url: "https://mutinynet.com/api"),
            lsp: LspConfig(nodeId: "02...lsp node id...", address: "lsp.example.com:9735", apiUrl: "https://lsp.example.com"),
            rgsUrl: "https://rgs.example.com/snapshot",
            backgroundSync: false
        )
    }

    /// The recovery phrase from the shared Keychain access group.
    static func mnemonic() throws -> String {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: "org.doze.sample.mnemonic",
            kSecAttrAccessGroup as String: appGroup,
            kSecReturnData as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        guard status == errSecSuccess, let data = item as? Data, let phrase = String(data: data, encoding: .utf8) else {
            throw NSError(domain: NSOSStatusErrorDomain, code: Int(status))
        }
        return phrase
    }
}
