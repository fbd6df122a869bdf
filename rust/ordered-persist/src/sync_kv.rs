//! LDK's async `KVStore` face for a store whose work is synchronous.
//!
//! A store that answers every call before it returns (a local SQLite file, or a batching layer
//! over one) has nothing to await: its async face runs the sync call and hands back a ready
//! future. LDK's `KVStore` is a foreign trait, so no blanket impl over `KVStoreSync` is
//! allowed; this macro writes the impl for one type instead, the same way for every such store.

/// Implements LDK's async `KVStore` for a type that implements `KVStoreSync`, each call running
/// the sync one at once and returning its result as a ready future.
///
/// ```ignore
/// doze_ordered_persist::kv_store_via_sync!(impl [] for MyStore);
/// doze_ordered_persist::kv_store_via_sync!(
///     impl [S: Deref] for Wrapper<S> where [S::Target: KVStoreSync]
/// );
/// ```
#[macro_export]
macro_rules! kv_store_via_sync {
    (impl [$($generics:tt)*] for $store:ty $(where [$($bounds:tt)*])?) => {
        impl<$($generics)*> $crate::__lightning::util::persist::KVStore for $store
        $(where $($bounds)*)?
        {
            fn read(
                &self,
                primary: &str,
                secondary: &str,
                key: &str,
            ) -> $crate::__lightning::util::async_poll::AsyncResult<
                'static,
                Vec<u8>,
                $crate::__lightning::io::Error,
            > {
                let result = $crate::__lightning::util::persist::KVStoreSync::read(
                    self, primary, secondary, key,
                );
                Box::pin(async move { result })
            }

            fn write(
                &self,
                primary: &str,
                secondary: &str,
                key: &str,
                buf: Vec<u8>,
            ) -> $crate::__lightning::util::async_poll::AsyncResult<
                'static,
                (),
                $crate::__lightning::io::Error,
            > {
                let result = $crate::__lightning::util::persist::KVStoreSync::write(
                    self, primary, secondary, key, buf,
                );
                Box::pin(async move { result })
            }

            fn remove(
                &self,
                primary: &str,
                secondary: &str,
                key: &str,
                lazy: bool,
            ) -> $crate::__lightning::util::async_poll::AsyncResult<
                'static,
                (),
                $crate::__lightning::io::Error,
            > {
                let result = $crate::__lightning::util::persist::KVStoreSync::remove(
                    self, primary, secondary, key, lazy,
                );
                Box::pin(async move { result })
            }

            fn list(
                &self,
                primary: &str,
                secondary: &str,
            ) -> $crate::__lightning::util::async_poll::AsyncResult<
                'static,
                Vec<String>,
                $crate::__lightning::io::Error,
            > {
                let result =
                    $crate::__lightning::util::persist::KVStoreSync::list(self, primary, secondary);
                Box::pin(async move { result })
            }
        }
    };
}
