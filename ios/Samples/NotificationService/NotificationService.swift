// A Notification Service Extension that wakes the Doze wallet when its LSP pushes.
//
// The LSP's push gateway sends an APNs alert with `mutable-content: 1`; the payload carries
// the LSPS5 notification as `notification` (a JSON object) and the LSPS5 headers as `headers`
// (`x-lsps5-timestamp`, `x-lsps5-signature`). iOS gives the extension about 30 s and 24 MB:
// handlePush verifies the push, starts the wallet lean, receives the held payment, stops, and
// returns a WakeOutcome whose notificationText becomes the notification's body.
//
// The wallet's storage lives in the App Group container shared with the app, and the recovery
// phrase in a Keychain access group shared with it (../Shared/SharedWallet.swift, compiled into
// both targets). If the app is running the wallet, the
// outcome is `.appHoldsWallet` and the app's own event listener reports the payment.

import Doze
import Foundation
import UserNotifications

final class NotificationService: UNNotificationServiceExtension {
    private var contentHandler: ((UNNotificationContent) -> Void)?
    private var content: UNMutableNotificationContent?
    private var wake: Task<Void, Never>?

    /// Leave ~5 s of the ~30 s for stopping cleanly and delivering the notification.
    private let deadlineMs: UInt64 = 25_000

    override func didReceive(
        _ request: UNNotificationRequest,
        withContentHandler contentHandler: @escaping (UNNotificationContent) -> Void
    ) {
        self.contentHandler = contentHandler
        guard let content = request.content.mutableCopy() as? UNMutableNotificationContent else {
            contentHandler(request.content)
            return
        }
        content.body = "Receiving a payment…"
        self.content = content

        let userInfo = request.content.userInfo
        guard
            let notification = userInfo["notification"],
            let payload = try? JSONSerialization.data(withJSONObject: notification),
            let headers = userInfo["headers"] as? [String: String]
        else {
            deliver()
            return
        }

        wake = Task {
            do {
                let wallet = try Wallet(config: SharedWallet.config(), mnemonic: try SharedWallet.mnemonic())
                let outcome = try await wallet.handlePush(payload: payload, headers: headers, deadlineMs: deadlineMs)
                switch outcome.ended {
                case .appHoldsWallet:
                    // The app runs the wallet and shows the payment itself.
                    content.body = "Payment arriving in the app"
                default:
                    content.body = outcome.notificationText
                }
                // The same key the app's listener sees as WalletEvent.id: show a payment once.
                content.threadIdentifier = outcome.dedupKey
            } catch let error as PushError {
                switch error {
                case .InvalidPush:
                    content.body = ""  // forged, expired or replayed: nothing happened
                default:
                    content.body = "Could not receive the payment yet: \(error)"
                }
            } catch {
                content.body = "Could not open the wallet: \(error)"
            }
            deliver()
        }
    }

    /// iOS is about to kill the extension: deliver what we have (a wake that was cut short
    /// completes on the wallet's next start; nothing is lost).
    override func serviceExtensionTimeWillExpire() {
        wake?.cancel()
        deliver()
    }

    private func deliver() {
        guard let handler = contentHandler, let content else { return }
        contentHandler = nil
        handler(content)
    }
}
