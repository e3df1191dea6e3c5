//! `netrig graph TOPOLOGY --format svg|dot|mermaid [-o FILE]`: the
//! topology's picture, drawn from the file alone (nothing is brought up,
//! no privileges needed): the same picture the HTML reports embed.

use std::path::Path;
use std::process::ExitCode;

use netrig::GraphFormat;
use netrig::topology::Overrides;

/// Loads `file` (with `over`) and writes its picture in `format` to `out`,
/// else to standard output.
pub fn graph(
    file: &Path,
    over: &Overrides,
    format: GraphFormat,
    out: Option<&Path>,
) -> netrig::Result<ExitCode> {
    let spec = netrig::topology::load_with(file, over)?;
    crate::matrix::emit(out, &spec.graph(format))?;
    Ok(ExitCode::SUCCESS)
}
