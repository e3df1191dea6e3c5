//! The `netrig` CLI end to end: `up` pins a topology and describes it,
//! `ls`/`exec`/`rules` work against it, `down` takes it down — also after
//! the `up` process was SIGKILLed. State and pins go to temporary folders
//! (`NETRIG_RUN_DIR`, `NETRIG_NETNS_DIR`), never to the host's /run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::witness::Witness;

/// Waits for process `pid` (not our child) to exit.
fn wait_pid_gone(pid: i32, deadline: Duration) -> bool {
    netrig::testing::wait_for_exit(pid as u32, deadline).unwrap()
}

pub(crate) struct Dirs {
    run: tempfile::TempDir,
    pub(crate) netns: tempfile::TempDir,
    artifacts: tempfile::TempDir,
}

impl Dirs {
    pub(crate) fn new() -> Dirs {
        Dirs {
            run: tempfile::tempdir().unwrap(),
            netns: tempfile::tempdir().unwrap(),
            // A SIGKILLed `up` cannot delete its artifacts: keep them out of the suite's.
            artifacts: tempfile::tempdir().unwrap(),
        }
    }
    pub(crate) fn netrig(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_netrig"));
        c.env("NETRIG_RUN_DIR", self.run.path())
            .env("NETRIG_NETNS_DIR", self.netns.path())
            .env("NETRIG_ARTIFACTS", self.artifacts.path())
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        c
    }
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.netrig().args(args).output().unwrap()
    }
    fn pins(&self) -> Vec<PathBuf> {
        let Ok(dir) = std::fs::read_dir(self.netns.path()) else {
            return Vec::new();
        };
        let mut v: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        v.sort();
        v
    }
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Starts `netrig up` and returns once it printed that it is up, with everything it printed.
pub(crate) fn up(dirs: &Dirs, topology: &str, name: &str) -> (Child, String) {
    up_with(dirs, &[topology, "--name", name])
}

/// `netrig up ARGS…`, as [`up`].
fn up_with(dirs: &Dirs, args: &[&str]) -> (Child, String) {
    let mut child = dirs
        .netrig()
        .arg("up")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with("up;") {
                let _ = tx.send(seen.clone());
            }
        }
        let _ = tx.send(format!("EXITED\n{seen}"));
    });
    let printed = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("netrig up never said it was up");
    assert!(
        !printed.starts_with("EXITED"),
        "netrig up exited early:\n{printed}"
    );
    (child, printed)
}

/// up → ls → exec → rules → down, and everything is gone afterwards.
fn up_exec_rules_down() {
    let dirs = Dirs::new();
    let name = format!("cli{}", std::process::id());
    let (mut child, printed) = up(&dirs, "topologies/docker-bridge.toml", &name);
    for needle in [
        "node host",
        "node web",
        "172.17.0.2/16",
        "203.0.113.2/24",
        "published 8080:80/tcp",
        "containers run nothing yet",
    ] {
        assert!(
            printed.contains(needle),
            "summary lacks {needle:?}:\n{printed}"
        );
    }
    // The binary is not on PATH here: the hints name the one that works.
    let hint = printed
        .lines()
        .find(|l| l.trim_start().starts_with("web "))
        .unwrap_or_else(|| panic!("no hint for web:\n{printed}"));
    let shown = hint.split_whitespace().nth(1).unwrap();
    assert!(
        shown != "netrig" && shown.ends_with("/netrig"),
        "the hint must name a runnable binary: {hint}"
    );
    // The hint is relative to the checkout (`./target/…`), or absolute when
    // the target directory is elsewhere (CARGO_TARGET_DIR).
    let binary = match std::path::Path::new(shown).is_absolute() {
        true => shown.to_string(),
        false => {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../").to_string() + shown.trim_start_matches("./")
        }
    };
    let rerun = Command::new(binary)
        .args(["exec", &name, "web", "--", "true"])
        .env("NETRIG_RUN_DIR", dirs.run.path())
        .env("NETRIG_NETNS_DIR", dirs.netns.path())
        .output()
        .unwrap();
    assert!(
        rerun.status.success(),
        "the hinted command failed: {}",
        text(&rerun)
    );
    assert_eq!(
        dirs.pins().len(),
        3,
        "one pin per namespace (host, internet, web)"
    );

    let ls = dirs.run(&["ls"]);
    assert!(
        text(&ls).contains(&name) && text(&ls).contains("up (pid"),
        "{}",
        text(&ls)
    );

    let exec = dirs.run(&[
        "exec", &name, "web", "--", "ip", "-o", "-4", "addr", "show", "eth0",
    ]);
    assert!(exec.status.success(), "{}", text(&exec));
    assert!(text(&exec).contains("172.17.0.2/16"), "{}", text(&exec));
    let status = dirs
        .run(&["exec", &name, "web", "--", "sh", "-c", "exit 7"])
        .status;
    assert_eq!(
        status.code(),
        Some(7),
        "exec passes the exit status through"
    );

    let rules = dirs.run(&["rules", &name]);
    assert!(
        text(&rules).contains("-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"),
        "{}",
        text(&rules)
    );

    let killed = dirs.run(&["exec", &name, "web", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(
        killed.status.code(),
        Some(128 + 15),
        "a signal exits 128+N, as shells do"
    );

    // A process left running inside the lab is ended by `down`, which says so.
    let mut sleeper = dirs
        .netrig()
        .args([
            "exec",
            &name,
            "web",
            "--",
            "sh",
            "-c",
            "echo inside; exec sleep 600",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Once it printed, the process is inside the lab (setns precedes exec).
    let mut first = String::new();
    BufReader::new(sleeper.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "inside");

    let bad = dirs.run(&["exec", &name, "nosuchnode", "--", "true"]);
    assert!(
        !bad.status.success() && text(&bad).contains("no node named \"nosuchnode\""),
        "{}",
        text(&bad)
    );

    let down = dirs.run(&["down", &name]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(
        text(&down).contains("(sleep) still running inside lab"),
        "{}",
        text(&down)
    );
    assert!(sleeper.wait().unwrap().code() != Some(0));
    assert!(wait_pid_gone(child.id() as i32, Duration::from_secs(10)));
    child.wait().unwrap();
    assert!(dirs.pins().is_empty(), "pins left: {:?}", dirs.pins());
    assert!(text(&dirs.run(&["ls"])).contains("no kept labs"));
}

/// Every file under each of `paths` (a missing path too), with its bytes.
fn files_under(paths: &[&str]) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut todo: Vec<PathBuf> = paths.iter().map(Into::into).collect();
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else {
            out.push((p.clone(), std::fs::read(&p).ok()));
        }
    }
    out.sort();
    out
}

/// `exec` into a node where the lab runs ufw runs it confined as the lab
/// does: `ufw status` shows the lab's rules, `ufw allow` changes the lab's
/// user.rules, and the machine's /etc/ufw, /etc/default/ufw and
/// /run/ufw.lock stay byte for byte as they were. Other nodes are not confined.
fn exec_runs_ufw_confined() {
    let dirs = Dirs::new();
    let name = format!("ufw{}", std::process::id());
    let machine = ["/etc/ufw", "/etc/default/ufw", "/run/ufw.lock"];
    let before = files_under(&machine);
    let (mut child, _) = up(&dirs, "topologies/docker-ufw-real.toml", &name);
    // A failed assertion still takes the lab down.
    struct Down<'a>(&'a Dirs, &'a str);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["down", self.1]);
        }
    }
    let guard = Down(&dirs, &name);
    let status = dirs.run(&["exec", &name, "host", "--", "ufw", "status"]);
    assert!(status.status.success(), "{}", text(&status));
    let shown = text(&status);
    assert!(shown.contains("Status: active"), "{shown}");
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("8080") && l.contains("DENY")),
        "{shown}"
    );
    let allow = dirs.run(&["exec", &name, "host", "--", "ufw", "allow", "443/tcp"]);
    assert!(allow.status.success(), "{}", text(&allow));
    let again = text(&dirs.run(&["exec", &name, "host", "--", "ufw", "status"]));
    assert!(again.contains("443/tcp"), "{again}");
    // The rule went to the lab's user.rules (and into the node's iptables).
    let artifacts = std::fs::read_dir(dirs.artifacts.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains(&name))
        .expect("the lab's artifacts");
    let user = std::fs::read_to_string(artifacts.join("ufw/host/etc-ufw/user.rules")).unwrap();
    assert!(user.contains("--dport 443"), "{user}");
    let rules = text(&dirs.run(&["exec", &name, "host", "--", "iptables-save"]));
    assert!(
        rules.contains("-A ufw-user-input -p tcp -m tcp --dport 443 -j ACCEPT"),
        "{rules}"
    );
    // Only the node running ufw is confined.
    let web = dirs.run(&[
        "exec",
        &name,
        "web",
        "--",
        "sh",
        "-c",
        "cat /proc/self/mountinfo",
    ]);
    assert!(!text(&web).contains("etc-ufw"), "{}", text(&web));
    std::mem::forget(guard);
    let down = dirs.run(&["down", &name]);
    assert!(down.status.success(), "{}", text(&down));
    child.wait().unwrap();
    assert!(
        files_under(&machine) == before,
        "the machine's /etc/ufw, /etc/default/ufw or /run/ufw.lock changed"
    );
}

/// Skips (fails under CI=true) where ufw is not installed.
fn ufw_installed() -> Option<netrig::testing::Skip> {
    let ok = Path::new("/usr/sbin/ufw").is_file() && Path::new("/usr/share/ufw/iptables").is_dir();
    (!ok).then(|| {
        netrig::testing::Skip::unless_required(
            "ufw is not installed (package ufw; ci/setup.sh installs it)",
        )
    })
}

/// `down` after a SIGKILLed `up` removes the pins, and with them the namespaces.
fn down_after_sigkilled_up() {
    let dirs = Dirs::new();
    let name = format!("kill{}", std::process::id());
    let mut witness = Witness::new().unwrap();
    let (mut child, _) = up(&dirs, "topologies/docker-modes.toml", &name);
    let witness_path = witness.path();
    let link = dirs.run(&[
        "exec",
        &name,
        "host",
        "--",
        "ip",
        "link",
        "add",
        "tow",
        "type",
        "veth",
        "peer",
        "name",
        "cliw0",
        "netns",
        &witness_path,
    ]);
    assert!(link.status.success(), "{}", text(&link));
    child.kill().unwrap(); // SIGKILL: no teardown ran
    child.wait().unwrap();
    assert!(
        !dirs.pins().is_empty(),
        "pins must outlive a killed up (that is what down is for)"
    );
    let ls = dirs.run(&["ls"]);
    assert!(text(&ls).contains("orphaned"), "{}", text(&ls));
    let down = dirs.run(&["down", &name]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(dirs.pins().is_empty(), "pins left: {:?}", dirs.pins());
    assert!(
        witness.wait_link_removed("cliw0", Duration::from_secs(10)),
        "the lab's namespaces survived `down`"
    );
    let left: Vec<_> = std::fs::read_dir(dirs.artifacts.path())
        .unwrap()
        .flatten()
        .collect();
    assert!(
        left.is_empty(),
        "the killed up's artifacts folder is left: {left:?}"
    );
}

/// A bad topology file gives an error naming the file, line and key, and leaves nothing.
fn up_with_a_bad_file_names_the_line() {
    let dirs = Dirs::new();
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        "[daemon]\nlayout = \"classic\"\n\n[[container]]\nname = \"web\"\nprots = [\"80:80\"]\n",
    )
    .unwrap();
    let out = dirs.run(&["up", f.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains(&f.path().display().to_string())
            && msg.contains("line 6")
            && msg.contains("prots"),
        "{msg}"
    );
    assert!(dirs.pins().is_empty());
    assert!(
        Path::new(dirs.run.path())
            .read_dir()
            .unwrap()
            .next()
            .is_none(),
        "state left behind"
    );
}

/// A missing firewall tool is reported with the package to install, and nothing is left behind.
fn up_without_iptables_names_the_package() {
    let dirs = Dirs::new();
    let empty = tempfile::tempdir().unwrap();
    let out = dirs
        .netrig()
        .args(["up", "topologies/docker-bridge.toml", "--name", "noipt"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let msg = text(&out);
    assert!(!out.status.success());
    assert!(
        msg.contains("iptables-nft-restore") && msg.contains("apt-get install iptables"),
        "{msg}"
    );
    assert!(dirs.pins().is_empty());
}

/// A lab name that would read as an option (`--name -x`) is refused before anything is built.
fn up_refuses_a_name_that_reads_as_an_option() {
    let dirs = Dirs::new();
    let out = dirs.run(&["up", "topologies/docker-bridge.toml", "--name=-x"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("must start with a letter or digit"),
        "{}",
        text(&out)
    );
    assert!(dirs.pins().is_empty());
}

/// A generic lab (topologies/gateway-nft.toml) under the CLI: up prints each
/// node's addresses, rule files and servers; exec reaches the file's echo
/// server through the gateway; rules shows the user's nft table; down leaves nothing.
fn generic_lab_up_exec_rules_down() {
    let dirs = Dirs::new();
    let name = format!("gen{}", std::process::id());
    let (mut child, printed) = up(&dirs, "topologies/gateway-nft.toml", &name);
    for needle in [
        "generic lab, 3 nodes",
        "client       eth0 10.10.0.2/24",
        "gw           lan0 10.10.0.1/24, wan0 198.51.100.1/24",
        "rules (nftables):",
        "tcp echo server on 198.51.100.10:80",
        &format!("exec {name} client -- sh"),
        &format!("rules {name} NODE"),
    ] {
        assert!(
            printed.contains(needle),
            "summary lacks {needle:?}:\n{printed}"
        );
    }
    assert_eq!(dirs.pins().len(), 3, "one pin per node");
    let ls = text(&dirs.run(&["ls"]));
    assert!(
        ls.contains(&name) && ls.contains("gateway-nft.toml"),
        "{ls}"
    );
    let echo = dirs.run(&[
        "exec",
        &name,
        "client",
        "--",
        "bash",
        "-c",
        "exec 3<>/dev/tcp/198.51.100.10/80 && echo through-the-gateway >&3 && head -n1 <&3",
    ]);
    assert!(
        echo.status.success() && text(&echo).contains("through-the-gateway"),
        "{}",
        text(&echo)
    );
    let rules = text(&dirs.run(&["rules", &name, "gw"]));
    assert!(
        rules.contains("table inet gateway") && rules.contains("masquerade"),
        "{rules}"
    );
    let down = dirs.run(&["down", &name]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(wait_pid_gone(child.id() as i32, Duration::from_secs(10)));
    child.wait().unwrap();
    assert!(dirs.pins().is_empty(), "pins left: {:?}", dirs.pins());
}

/// `--layout` and `--backend` run a Docker file under another layout and
/// backend; a bad value names the flag and the accepted values.
fn up_overrides_layout_and_backend() {
    let dirs = Dirs::new();
    let name = format!("ovr{}", std::process::id());
    let (mut child, printed) = up_with(
        &dirs,
        &[
            "topologies/docker-bridge.toml",
            "--name",
            &name,
            "--layout",
            "v28",
            "--backend",
            "iptables-legacy",
        ],
    );
    assert!(
        printed.contains("layout v28, backend iptables-legacy"),
        "{printed}"
    );
    let rules = text(&dirs.run(&["rules", &name]));
    assert!(
        rules.contains("# iptables-legacy") && rules.contains("DOCKER-FORWARD"),
        "{rules}"
    );
    let down = dirs.run(&["down", &name]);
    assert!(down.status.success(), "{}", text(&down));
    child.wait().unwrap();
    let bad = dirs.run(&["up", "topologies/docker-bridge.toml", "--layout", "v99"]);
    assert!(
        !bad.status.success() && text(&bad).contains("--layout"),
        "{}",
        text(&bad)
    );
    assert!(dirs.pins().is_empty(), "pins left: {:?}", dirs.pins());
}

/// A generic lab with Docker hosts as parts (topologies/two-docker-hosts.toml)
/// under `--layout v28`: up names each part's containers and nodes, `rules`
/// shows a part's Docker chains in the v28 layout, exec reaches a part's
/// container node, down leaves nothing.
fn docker_parts_up_rules_down() {
    let dirs = Dirs::new();
    let name = format!("parts{}", std::process::id());
    let (mut child, printed) = up_with(
        &dirs,
        &[
            "topologies/two-docker-hosts.toml",
            "--name",
            &name,
            "--layout",
            "v28",
        ],
    );
    for needle in [
        "generic lab, 5 nodes",
        "Docker host h1 (layout v28, backend iptables-nft): containers web in node h1-web",
        "Docker host h2 (layout v28",
        "h2           docker0 172.17.0.1/16, eth0 198.51.100.22/24",
        &format!("exec {name} h2-web -- sh"),
    ] {
        assert!(
            printed.contains(needle),
            "summary lacks {needle:?}:\n{printed}"
        );
    }
    assert_eq!(dirs.pins().len(), 5, "one pin per node");
    let rules = text(&dirs.run(&["rules", &name, "h2"]));
    assert!(
        rules.contains("DOCKER-FORWARD") && rules.contains("--to-destination 172.17.0.2:80"),
        "{rules}"
    );
    let route = dirs.run(&["exec", &name, "h1-web", "--", "ip", "route"]);
    assert!(
        text(&route).contains("default via 172.17.0.1"),
        "{}",
        text(&route)
    );
    let down = dirs.run(&["down", &name]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(wait_pid_gone(child.id() as i32, Duration::from_secs(10)));
    child.wait().unwrap();
    assert!(dirs.pins().is_empty(), "pins left: {:?}", dirs.pins());
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        docker_parts_up_rules_down,
        up_exec_rules_down,
        down_after_sigkilled_up,
        up_with_a_bad_file_names_the_line,
        up_without_iptables_names_the_package,
        up_refuses_a_name_that_reads_as_an_option,
        generic_lab_up_exec_rules_down,
        up_overrides_layout_and_backend,
    ]
    .into_iter()
    .chain(
        netrig::testing::tests![exec_runs_ufw_confined]
            .into_iter()
            .map(|t| t.needs(ufw_installed)),
    )
    .collect()
}

/// A tool's listing as state: iptables-save's "Generated …/Completed on
/// <time>" comments and its chains' packet counters are not state.
pub(crate) fn as_state(out: &str) -> String {
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.rsplit_once(" [") {
            Some((chain, _)) if l.starts_with(':') => chain,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}
