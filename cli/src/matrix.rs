//! `netrig matrix`, `netrig diff` and `netrig trace`: bring the topology up
//! (no pins, nothing kept), probe, print, take it down.
//!
//! Exit status: `matrix` and `trace` 0, or 2 on error; `diff` 0 when no
//! cell changed, 1 when some did (like `diff`), 2 on error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use netrig::DockerLab;
use netrig::reach::{
    Cell, DEFAULT_DEADLINE, Format, Matrix, MatrixDiff, json_str, trace_cell, why_json,
    why_of_trace,
};

/// Exit status for an error (as `diff`).
const ERROR: u8 = 2;

/// Brings `file` up with extra rule `files` after the topology's, as lab `name`.
fn up(file: &Path, files: &[PathBuf], name: &str) -> netrig::Result<DockerLab> {
    netrig::privilege::check()?;
    let mut model = match netrig::topology::load_any(file, &Default::default())? {
        netrig::topology::Topology::Docker(host) => host,
        netrig::topology::Topology::Lab(_) => {
            return Err(netrig::Error::Topology {
                file: file.to_path_buf(),
                message: "this is a generic lab (it has [[node]] or [[docker]] entries): \
                          matrix, diff and trace take a Docker host file, whose host's rules \
                          decide every cell (e.g. a [[docker]] part's own file); \
                          `netrig up` keeps a generic lab up to probe by hand"
                    .into(),
            });
        }
    };
    for f in files {
        model.add_rules_file(f);
    }
    model.set_name(name);
    model.up()
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lab".into())
}

fn or_error(result: netrig::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("netrig: error: {e}");
        ExitCode::from(ERROR)
    })
}

/// `netrig matrix TOPOLOGY [--rules FILE]...`
pub fn matrix(file: &Path, rules: &[PathBuf], format: Format) -> ExitCode {
    or_error((|| {
        let docker = up(file, rules, &stem(file))?;
        print!("{}", Matrix::probe(&docker)?.render(format));
        Ok(ExitCode::SUCCESS)
    })())
}

/// `netrig diff TOPOLOGY --before FILE... --after FILE...`
pub fn diff(file: &Path, before: &[PathBuf], after: &[PathBuf], format: Format) -> ExitCode {
    or_error((|| {
        let name = stem(file);
        let (b, a) = std::thread::scope(|s| {
            let b = s.spawn(|| up(file, before, &format!("{name}-before")));
            let a = up(file, after, &format!("{name}-after"));
            (b.join().expect("bring-up thread panicked"), a)
        });
        let (b, a) = (b?, a?);
        let d = MatrixDiff::probe(&b, &a)?;
        print!("{}", d.render(format));
        Ok(if d.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })())
}

/// `netrig trace TOPOLOGY --from NODE --to ADDR:PORT/tcp|udp or ADDR/icmp [--rules FILE]...`
pub fn trace(file: &Path, from: &str, to: &str, rules: &[PathBuf], format: Format) -> ExitCode {
    or_error((|| {
        let cell = Cell::parse(from, to)?;
        let docker = up(file, rules, &stem(file))?;
        let t = trace_cell(&docker, &cell, DEFAULT_DEADLINE)?;
        match format {
            Format::Text => println!("{t}"),
            Format::Markdown => println!("```text\n{t}\n```"),
            Format::Json => {
                let why: Vec<String> = why_of_trace(&t).iter().map(why_json).collect();
                println!(
                    "{{\"from\": {}, \"to\": {}, \"probe\": {}, \"why\": [{}], \"trace\": {}}}",
                    json_str(&cell.from),
                    json_str(&cell.target()),
                    json_str(&format!("{:?}", t.probe).to_lowercase()),
                    why.join(", "),
                    json_str(&t.to_string())
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })())
}
