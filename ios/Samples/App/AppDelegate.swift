// The app's side of the wallet's lifecycle: started at launch, paused when the app goes to the
// background, resumed when it comes back.
//
// The wallet's storage is in the App Group container the app shares with its notification
// extension (../Shared/SharedWallet.swift). iOS suspends an app a few seconds after it enters
// the background and kills a suspended app that still holds a lock on a file in a shared
// container (crash code 0xdead10cc); SQLite holds one for every open database. `pause()` lets
// the wallet's operations in flight finish, stops its node, closes every database and releases
// the storage lock within about a second, and from then on the extension can take the wallet
// for a push. A payment that was in flight completes after `resume()` (or in a wake meanwhile).
//
// With scenes (UIWindowSceneDelegate), make the same calls from `sceneDidEnterBackground` and
// `sceneWillEnterForeground`.

import Doze
import UIKit

@main
final class AppDelegate: UIResponder, UIApplicationDelegate {
    private var wallet: Wallet?
    /// The last lifecycle call: each waits for the one before, so that a quick trip to the
    /// background and back pauses, then resumes, in that order.
    private var lifecycle: Task<Void, Never>?

    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]?
    ) -> Bool {
        do {
            let wallet = try Wallet(config: SharedWallet.config(), mnemonic: try SharedWallet.mnemonic())
            self.wallet = wallet
            lifecycle = Task {
                do {
                    try await wallet.start()
                } catch {
                    NSLog("Doze: the wallet did not start: %@", String(describing: error))
                }
            }
        } catch {
            NSLog("Doze: no wallet yet: %@", String(describing: error))
        }
        return true
    }

    func applicationDidEnterBackground(_ application: UIApplication) {
        guard let wallet else { return }
        // The time iOS grants an app entering the background; pausing takes at most about a
        // second of it.
        let background = application.beginBackgroundTask(withName: "doze.pause")
        let previous = lifecycle
        lifecycle = Task {
            await previous?.value
            do {
                try await wallet.pause()
            } catch {
                NSLog("Doze: pause failed: %@", String(describing: error))
            }
            application.endBackgroundTask(background)
        }
    }

    func applicationWillEnterForeground(_ application: UIApplication) {
        guard let wallet else { return }
        let previous = lifecycle
        lifecycle = Task {
            await previous?.value
            // The extension may be finishing a wake, holding the wallet for a moment.
            for _ in 0..<20 {
                do {
                    try await wallet.resume()
                    return
                } catch WalletError.StorageLocked {
                    try? await Task.sleep(nanoseconds: 500_000_000)
                } catch WalletError.WalletMoved {
                    // Restored on another device: this one must not run it. Tell the user.
                    return
                } catch {
                    NSLog("Doze: resume failed: %@", String(describing: error))
                    return
                }
            }
        }
    }
}
