//! `netrig up`: build a topology (a Docker host or a generic lab), pin it,
//! describe it, wait for Ctrl-C, SIGTERM (`netrig down`) — then tear it all down.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use crate::kept::{KeptLab, netns_dir, recorded_binds};
use netrig::topology::Overrides;
use nix::sys::signal::SigSet;

/// The Docker host of a Docker host file's lab (the part `host`, beside the
/// node `internet`); `None` for a generic lab.
pub fn single_host(lab: &netrig::Lab) -> Option<netrig::DockerPart<'_>> {
    lab.docker("host")
        .ok()
        .filter(|_| lab.node("internet").is_ok())
}

/// Every other name of a node (Docker's host and `container:` modes, a
/// topology's `[[alias]]`), with the node it names.
fn aliases(lab: &netrig::Lab) -> netrig::Result<BTreeMap<String, String>> {
    let own = lab.namespace_names();
    let mut out = BTreeMap::new();
    for name in lab.node_names().into_iter().filter(|n| !own.contains(n)) {
        let node = lab.node(&name)?;
        for target in &own {
            if lab.node(target)? == node {
                out.insert(name.clone(), target.clone());
            }
        }
    }
    Ok(out)
}

/// `--layout`/`--backend` as overrides, refused with the accepted values.
pub fn overrides(layout: Option<&str>, backend: Option<&str>) -> netrig::Result<Overrides> {
    let bad = |flag: &str, e: String| netrig::Error::invalid(netrig::Subject::default(), flag, e);
    Ok(Overrides {
        layout: layout
            .map(|l| l.parse().map_err(|e: String| bad("--layout", e)))
            .transpose()?,
        backend: backend
            .map(|b| b.parse().map_err(|e: String| bad("--backend", e)))
            .transpose()?,
        version: None,
    })
}

pub fn run(
    file: &Path,
    name: Option<&str>,
    overrides: &Overrides,
    signals: &SigSet,
) -> netrig::Result<ExitCode> {
    netrig::privilege::check()?;
    let mut spec = netrig::topology::load_with(file, overrides)?;
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
    let me = invocation();
    spec.set_name(&lab_name);
    let running = spec.up()?;
    let docker = single_host(&running);
    let mut summary = running.summary()?;
    if let Some(d) = docker {
        summary = format!("{summary}\n") + &try_it(&me, &lab_name, d);
    }
    let backend = docker.map(|d| d.model().backend().to_string());
    let aliases = aliases(&running)?;
    let pins = running.pin_all(&netns_dir())?;
    let confined = (pins.iter())
        .map(|(node, _)| (node.clone(), recorded_binds(running.artifacts_dir(), node)))
        .filter(|(_, binds)| !binds.is_empty())
        .collect();
    let kept = KeptLab {
        lab: lab_name.clone(),
        pid: std::process::id(),
        topology: std::fs::canonicalize(file)
            .unwrap_or_else(|_| file.to_path_buf())
            .display()
            .to_string(),
        backend,
        nodes: pins.into_iter().collect(),
        aliases,
        artifacts: Some(running.artifacts_dir().to_path_buf()),
        confined,
    };
    if let Err(e) = kept.save() {
        let _ = kept.remove();
        return Err(e);
    }

    say(format_args!("{summary}"));
    say(format_args!("enter a node:\n"));
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
        say(format_args!(
            "  {node:<12} {me} exec {lab_name} {node} -- sh    (or: {via})\n"
        ));
    }
    let rules_node = if docker.is_some() { "" } else { " NODE" };
    say(format_args!(
        "rules with counters: {me} rules {lab_name}{rules_node}\n"
    ));
    say(format_args!(
        "artifacts: {}\n",
        running.artifacts_dir().display()
    ));
    say(format_args!(
        "up; Ctrl-C or `netrig down {lab_name}` to tear down\n"
    ));

    let signal = signals.wait().map_err(|e| {
        netrig::Error::io(
            netrig::Subject::lab(&lab_name),
            "wait for a signal",
            e.into(),
        )
    })?;
    eprintln!("netrig: {signal:?}: tearing down lab {lab_name}");
    let removed = kept.remove();
    drop(running);
    removed?;
    say(format_args!("lab {lab_name} is down\n"));
    Ok(ExitCode::SUCCESS)
}

/// Prints to stdout; a reader that went away (`netrig up … | head`) is no
/// reason to stop: the lab stays up until Ctrl-C or `netrig down`.
fn say(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = std::io::stdout().write_fmt(text);
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
fn try_it(me: &str, lab: &str, docker: netrig::DockerPart<'_>) -> String {
    let model = docker.model();
    let Some((container, port)) = model
        .containers()
        .iter()
        .find_map(|c| c.ports.first().map(|p| (c.name.clone(), *p)))
    else {
        return String::new();
    };
    let host_ip = docker.uplink_ip();
    format!(
        "containers run nothing yet; try a published port:\n\
         \x20 {me} exec {lab} {container} -- nc -lk -p {cport}              # a server in {container}\n\
         \x20 {me} exec {lab} internet -- nc -w1 {host_ip} {hport} </dev/null   # reach it from the internet\n",
        cport = port.container_port,
        hport = port.host_port,
    )
}
