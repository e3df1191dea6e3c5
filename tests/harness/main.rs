//! netrig's own tests of its core, one test binary: namespaces and labs
//! (`core`), captures, expectations, handles, traffic, proxies,
//! generic topology labs, and the test harness itself (`testing`). Each
//! module was a test binary of its own; test names are unchanged.
//! `cargo test --test harness -- NAME` runs one.

#[path = "../common/mod.rs"]
mod common;

/// Lab tests as `netrig::testing::tests!` builds them (function names, no
/// attributes), each holding [`common::shared`] while it runs. For the
/// modules whose tests took no hold when they were a binary of their own:
/// here they share a process with `core`'s tests that count this process's
/// namespaces under [`common::exclusive`].
macro_rules! shared_labs {
    ($($test:ident),* $(,)?) => {
        ::std::vec![$(
            ::netrig::testing::Test::lab(::std::stringify!($test), || {
                let _labs = crate::common::shared();
                $test()
            })
        ),*]
    };
}

mod capture;
mod core;
mod expect;
mod handles;
mod testing;
mod topology_lab;
mod traffic;

fn main() -> std::process::ExitCode {
    // `testing`'s tests run this binary again as its demo suite.
    if let Some(code) = testing::demo_main() {
        return code;
    }
    netrig::testing::run(
        [
            crate::core::tests(),
            capture::tests(),
            testing::tests(),
            expect::tests(),
            handles::tests(),
            traffic::tests(),
            topology_lab::tests(),
        ]
        .into_iter()
        .flatten(),
    )
}
