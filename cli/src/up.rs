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
        artifacts: Some(docker.artifacts_dir().to_path_buf()),
    };
    if let Err(e) = kept.save() {
        let _ = kept.remove();
        return Err(e);
    }

    println!("{}", docker.summary());
    let me = invocation();
    println!("enter a node:");
    for (node, pin) in &kept.nodes {
        let pin_name = pin
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let via = if pin.parent() == Some(Path::new("/run/netns")) {
            format!("ip netns exec {pin_name} sh")
        } else {
            format!("nsenter --net={} sh", pin.display())
        };
        println!("  {node:<12} {me} exec {lab_name} {node} -- sh    (or: {via})");
    }
    print!("{}", try_it(&me, &lab_name, &docker));
    println!("rules with counters: {me} rules {lab_name}");
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

/// How to run this binary again from the user's shell: `netrig` when that is
/// what PATH finds, else the path of this executable (e.g. after `cargo run`).
fn invocation() -> String {
    let me = std::env::current_exe().ok();
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            let candidate = d.join("netrig");
            candidate.is_file()
                && std::fs::canonicalize(&candidate).ok()
                    == me.as_ref().and_then(|m| std::fs::canonicalize(m).ok())
        })
    });
    if on_path {
        return "netrig".into();
    }
    let Some(me) = me else {
        return "netrig".into();
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    me.strip_prefix(&cwd)
        .map(|rel| format!("./{}", rel.display()))
        .unwrap_or_else(|_| me.display().to_string())
}

/// The containers run nothing: say how to start a server in one and from
/// which node to reach its published port.
fn try_it(me: &str, lab: &str, docker: &netrig::DockerLab) -> String {
    let model = docker.model();
    let Some((container, port)) = model
        .containers()
        .iter()
        .find_map(|c| c.ports.first().map(|p| (c.name.clone(), *p)))
    else {
        return String::new();
    };
    let host_ip = docker.host_uplink_ip();
    format!(
        "containers run nothing yet; try a published port:\n\
         \x20 {me} exec {lab} {container} -- nc -lk -p {cport}              # a server in {container}\n\
         \x20 {me} exec {lab} internet -- nc -w1 {host_ip} {hport} </dev/null   # reach it from the internet\n",
        cport = port.container_port,
        hport = port.host_port,
    )
}
