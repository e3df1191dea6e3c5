//! `netrig up`: build a topology, pin it, describe it, wait for Ctrl-C,
//! SIGTERM (`netrig down`) — then tear it all down.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use crate::kept::{KeptLab, netns_dir};
use nix::sys::signal::SigSet;

pub fn run(file: &Path, name: Option<&str>, signals: &SigSet) -> netrig::Result<ExitCode> {
    netrig::privilege::check()?;
    let mut model = netrig::topology::load(file)?;
    let lab_name = match name {
        Some(n) => n.to_string(),
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lab".into()),
    };
    netrig::Lab::check_name(&lab_name)?;
    if let Ok(existing) = KeptLab::load(&lab_name) {
        return Err(netrig::Error::invalid(
            netrig::Subject::lab(&lab_name),
            "lab name",
            format!(
                "a lab named {lab_name:?} is already kept (pid {}); `netrig down {lab_name}` first or pass --name",
                existing.pid
            ),
        ));
    }
    model.set_name(&lab_name);
    let docker = model.up()?;
    let pins = docker.pin_all(&netns_dir())?;
    let aliases: BTreeMap<String, String> = docker
        .model()
        .containers()
        .iter()
        .filter(|c| docker.model().node_of(&c.name) != c.name)
        .map(|c| (c.name.clone(), docker.model().node_of(&c.name)))
        .collect();
    let kept = KeptLab {
        lab: lab_name.clone(),
        pid: std::process::id(),
        topology: std::fs::canonicalize(file)
            .unwrap_or_else(|_| file.to_path_buf())
            .display()
            .to_string(),
        backend: Some(docker.model().backend().to_string()),
        nodes: pins.into_iter().collect(),
        aliases,
    };
    if let Err(e) = kept.save() {
        let _ = kept.remove();
        return Err(e);
    }

    println!("{}", docker.summary());
    println!("enter a node:");
    for (node, pin) in &kept.nodes {
        let pin_name = pin
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "  {node:<12} netrig exec {lab_name} {node} -- sh    (or: ip netns exec {pin_name} sh)"
        );
    }
    println!("rules with counters: netrig rules {lab_name}");
    println!("artifacts: {}", docker.artifacts_dir().display());
    println!("up; Ctrl-C or `netrig down {lab_name}` to tear down");

    let signal = signals.wait().map_err(|e| {
        netrig::Error::io(
            netrig::Subject::lab(&lab_name),
            "wait for a signal",
            e.into(),
        )
    })?;
    eprintln!("netrig: {signal:?}: tearing down lab {lab_name}");
    let removed = kept.remove();
    drop(docker);
    removed?;
    println!("lab {lab_name} is down");
    Ok(ExitCode::SUCCESS)
}
