//! The `netrig` command line end to end, one test binary: `up`/`ls`/`exec`/
//! `rules`/`down` (`cli`), `matrix`/`diff`/`trace` on the shipped examples
//! (`matrix`), `run` against a stand-in catalogue (`run`), `doctor` and `init`. Each module was
//! a test binary of its own; test names are unchanged.

mod cli;
mod doctor;
mod import;
mod init;
mod matrix;
mod run;
mod snapshot;

fn main() -> std::process::ExitCode {
    netrig::testing::run(
        [
            cli::tests(),
            doctor::tests(),
            import::tests(),
            init::tests(),
            matrix::tests(),
            run::tests(),
            snapshot::tests(),
        ]
        .into_iter()
        .flatten(),
    )
}
