//! The conformance suite: what every backend of [`Store`] must do, written once as generic async functions.
//!
//! A backend's integration test runs all of it with one line, [`conformance_tests!`](crate::conformance_tests), given an
//! async function that makes a store reading the given clock and returns it with a guard that lives as long as the test
//! (a temporary directory, a keyspace to drop). Every case gets a fresh clock at [`START`] and moves it by hand.
//! The cases make their own uniquely named accounts, datacenters and projects and never assume a list is otherwise empty,
//! so a backend may hand every case the same database (one Cassandra keyspace for the whole suite) instead of a fresh one.
//!
//! This is test code compiled into the library so that other crates' tests can run it; it panics on failure.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::{Account, NewAccount, Store, Timestamp, TokenHash};

/// Where every case's clock starts: 2024-01-01T00:00:00Z.
pub const START: Timestamp = Timestamp::from_millis(1_704_067_200_000);

/// Asserts that a result is the given error variant and returns the error; otherwise panics showing what came instead.
macro_rules! assert_error {
    ($result:expr, $pattern:pat) => {
        match $result {
            Err(error @ $pattern) => error,
            other => panic!(
                "expected {} from `{}`, got {other:?}",
                stringify!($pattern),
                stringify!($result)
            ),
        }
    };
}

pub mod account;
pub mod cluster;
pub mod lease;
pub mod project;
pub mod token;

/// Generates one `#[tokio::test]` per conformance case, in modules named like the ones here (`account::…`, `lease::…`).
///
/// `$make` names an `async fn(Arc<ManualClock>) -> (S, G)` in the calling module, where `S: Store + Clone + 'static` and
/// `G` is kept alive until the case ends. The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_tests {
    ($make:ident) => {
        $crate::__conformance_cases! { $make;
            account {
                create_and_read,
                unique_email_ignoring_case,
                unique_email_under_concurrent_creates,
                invalid_account_input,
            },
            token {
                expiry,
                revocation,
                invalid_token_input,
            },
            project {
                create_rename_and_list,
                delete_is_for_the_owner_and_hides_everything,
                invite_and_authorize,
                remove_and_leave,
                transfer_ownership,
            },
            cluster {
                datacenters_and_hosts,
                layout_versions,
                placements_both_ways,
            },
            lease {
                exclusive_among_concurrent_contenders,
                one_holder_at_any_time,
                expired_lease_is_taken_over_and_stale_holder_cannot_renew,
                lease_rules,
            },
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($make:ident; $($module:ident { $($case:ident),* $(,)? }),* $(,)?) => {
        $(
            mod $module {
                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $case() {
                        let clock = ::std::sync::Arc::new($crate::ManualClock::new(
                            $crate::conformance::START,
                        ));
                        let (store, _guard) = super::$make(::std::sync::Arc::clone(&clock)).await;
                        $crate::conformance::$module::$case(store, clock).await;
                    }
                )*
            }
        )*
    };
}

/// A label no other case or run uses, for names that must be unique in a shared database.
pub fn unique(label: &str) -> String {
    format!(
        "{label}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A fresh e-mail address, in lower case.
pub fn unique_email(label: &str) -> String {
    format!("{}@example.org", unique(label))
}

/// A random token hash.
pub fn random_token_hash() -> TokenHash {
    let mut bytes = [0; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    TokenHash(bytes)
}

/// Signs up a new account named `label` with a unique address.
pub async fn sign_up<S: Store>(store: &S, label: &str) -> Account {
    store
        .create_account(NewAccount {
            email: unique_email(label),
            display_name: label.to_string(),
            password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$fake${label}"),
        })
        .await
        .expect("signing up a fresh account")
}
