//! The `netrig` command line end to end, one test binary: `up`/`ls`/`exec`/
//! `rules`/`down` (`cli`), `matrix`/`diff`/`trace` on the shipped examples
//! (`matrix`), the HTML report in headless Chromium (`report`), `run` against a
//! stand-in catalogue (`run`), `doctor` and `init`. Each module was
//! a test binary of its own; test names are unchanged.

mod cli;
mod doctor;
mod import;
mod init;
mod matrix;
mod report;
mod run;
mod snapshot;
mod verify;
// The witness namespace netrig's own tests use (public API + rtnetlink).
#[path = "../../../tests/common/witness.rs"]
mod witness;

/// Whether these tests run in a user namespace that does not map every uid
/// (rootless `unshare -Ur`, as ci/rootless.sh runs them).
pub(crate) fn rootless() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

fn main() -> std::process::ExitCode {
    netrig::testing::run(
        [
            cli::tests(),
            doctor::tests(),
            import::tests(),
            init::tests(),
            matrix::tests(),
            report::tests(),
            run::tests(),
            snapshot::tests(),
            verify::tests(),
        ]
        .into_iter()
        .flatten(),
    )
}
