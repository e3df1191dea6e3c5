//! `netrig matrix|diff|trace` end to end on the shipped examples: output
//! formats and `diff`'s exit status (0 unchanged, 1 changed, 2 error).

use std::process::{Command, Output};

const EX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/examples");

fn netrig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netrig"))
        .args(args)
        .output()
        .expect("run netrig")
}

fn ex(file: &str) -> String {
    format!("{EX}/{file}")
}

/// `diff` exits 1 and names the ctorigdstport rule with file:line when a cell changed, 0 when none did.
fn diff_exit_status_says_whether_a_cell_changed() {
    let topo = ex("docker-web.toml");
    let changed = netrig(&[
        "diff",
        &topo,
        "--before",
        &ex("docker-user-dport.rules"),
        "--after",
        &ex("docker-user-ctorigdstport.rules"),
    ]);
    let out = String::from_utf8_lossy(&changed.stdout);
    assert_eq!(
        changed.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    assert!(out.contains("internet -> 203.0.113.2:8080/tcp"), "{out}");
    assert!(out.contains("docker-user-ctorigdstport.rules:5"), "{out}");
    let same = netrig(&[
        "diff",
        &topo,
        "--before",
        &ex("docker-user-dport.rules"),
        "--after",
        &ex("docker-user-dport.rules"),
    ]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&same.stdout), "no cell changed\n");
}

/// A missing rule file is an error (exit 2) that names the file.
fn diff_error_exits_2() {
    let o = netrig(&["diff", &ex("docker-web.toml"), "--after", "no-such.rules"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such.rules"));
}

fn topology(file: &str) -> String {
    format!("{}/../topologies/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// Generic labs: `matrix` names the node that decided, `diff` takes
/// `NODE=FILE` (and asks for the node when it is not clear), `trace` shows
/// each node the probe crossed.
fn generic_labs_in_matrix_diff_and_trace() {
    let gw = topology("gateway-nft.toml");
    let m = netrig(&["matrix", &gw, "--format", "json"]);
    let out = String::from_utf8_lossy(&m.stdout);
    assert_eq!(
        m.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&m.stderr)
    );
    let telnet = out
        .lines()
        .find(|l| l.contains("\"from\": \"client\", \"to\": \"198.51.100.10:23/tcp\""))
        .unwrap_or_else(|| panic!("no telnet cell in {out}"));
    assert!(
        telnet.contains("\"outcome\": \"dropped\"")
            && telnet
                .contains("\"node\": \"gw\", \"table\": \"inet gateway\", \"chain\": \"forward\""),
        "{telnet}"
    );
    let two = topology("two-docker-hosts.toml");
    let rules = format!("{EX}/docker-user-ctorigdstport.rules");
    let d = netrig(&["diff", &two, "--after", &format!("h2={rules}")]);
    let out = String::from_utf8_lossy(&d.stdout);
    assert_eq!(
        d.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&d.stderr)
    );
    assert!(out.contains("router -> 198.51.100.22:8080/tcp"), "{out}");
    assert!(out.contains("h2: ip filter DOCKER-USER"), "{out}");
    assert!(out.contains("docker-user-ctorigdstport.rules:5"), "{out}");
    // Two nodes have rules: a bare FILE is refused, naming them.
    let o = netrig(&["diff", &two, "--after", &rules]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("two-docker-hosts.toml")
            && err.contains("NODE=FILE")
            && err.contains("h1, h2"),
        "{err}"
    );
    let o = netrig(&["matrix", &two, "--rules", &format!("nosuch={rules}")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no node named \"nosuch\""), "{err}");
    let t = netrig(&[
        "trace",
        &two,
        "--from",
        "h1-web",
        "--to",
        "198.51.100.22:8080/tcp",
    ]);
    let out = String::from_utf8_lossy(&t.stdout);
    assert_eq!(
        t.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&t.stderr)
    );
    assert!(
        out.contains("== in node h1 ==") && out.contains("== in node h2 =="),
        "{out}"
    );
    assert!(
        out.contains("MASQUERADE") && out.contains("DNAT --to-destination 172.17.0.2:80"),
        "{out}"
    );
}

/// `matrix --format json` prints one object per cell with the documented keys; `trace` prints the decision.
fn matrix_json_and_trace() {
    let m = netrig(&["matrix", &ex("docker-web.toml"), "--format", "json"]);
    assert_eq!(m.status.code(), Some(0));
    let out = String::from_utf8_lossy(&m.stdout);
    let first = out.lines().nth(1).expect("a cell");
    for key in [
        "\"from\"",
        "\"to\"",
        "\"outcome\"",
        "\"seen_src\"",
        "\"seen_dst\"",
        "\"why\"",
    ] {
        assert!(first.contains(key), "{key} in {first}");
    }
    assert!(out.contains("\"to\": \"203.0.113.2:8080/tcp\", \"outcome\": \"delivered\", \"seen_src\": \"203.0.113.1\""), "{out}");
    let t = netrig(&[
        "trace",
        &ex("docker-web.toml"),
        "--from",
        "internet",
        "--to",
        "203.0.113.2:8080/tcp",
    ]);
    assert_eq!(t.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&t.stdout).contains("decision: ip filter DOCKER rule"));
    // An ICMP echo is traced too (selected by its identifier), NAT included.
    let ping = netrig(&[
        "trace",
        &ex("docker-web.toml"),
        "--from",
        "web",
        "--to",
        "198.51.100.10/icmp",
    ]);
    let text = String::from_utf8_lossy(&ping.stdout);
    assert_eq!(ping.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with("flow icmp echo 172.17.0.2 -> 198.51.100.10 id "),
        "{text}"
    );
    assert!(text.contains("MASQUERADE"), "{text}");
    assert!(
        text.contains("decision: ip filter FORWARD rule") && text.contains("-j ACCEPT (accept)"),
        "{text}"
    );
}

/// A reader that goes away before netrig prints (`netrig matrix … | head`)
/// ends it quietly: killed by SIGPIPE like `cat`, no panic, no backtrace.
fn closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_netrig"))
        .args(["matrix", &topology("docker-bridge.toml")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run netrig");
    // Closed before the matrix (a lab brought up and probed) is printed.
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait for netrig");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "stderr: {err}"
    );
    assert_eq!(
        o.status.signal(),
        Some(nix::sys::signal::Signal::SIGPIPE as i32),
        "{:?}; stderr: {err}",
        o.status
    );
}

/// `--format grid`: sources by numbered destinations, a key and a legend,
/// within 80 columns; a diff's grids are before, after and what changed,
/// the changed cell marked.
fn grids_for_matrix_and_diff() {
    let o = netrig(&[
        "matrix",
        &topology("docker-bridge.toml"),
        "--format",
        "grid",
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.starts_with("reachability\n"), "{text}");
    assert!(
        text.contains("columns:\n") && text.contains(". delivered"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("internet ")), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    assert!(
        text.lines()
            .filter(|l| !l.contains("delivered"))
            .all(|l| l.len() <= 80),
        "{text}"
    );
    let o = netrig(&[
        "diff",
        &ex("docker-web.toml"),
        "--before",
        &ex("docker-user-dport.rules"),
        "--after",
        &ex("docker-user-ctorigdstport.rules"),
        "--format",
        "grid",
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{text}");
    for title in ["before", "after", "changed"] {
        assert!(text.lines().any(|l| l == title), "{title}:\n{text}");
    }
    let changed_row = text
        .lines()
        .skip_while(|l| *l != "changed")
        .find(|l| l.starts_with("internet "))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(changed_row.matches('*').count(), 1, "{text}");
}

/// `--why-changes` lists a cell whose outcome stayed but whose deciding rule
/// moved (Docker's DOCKER ACCEPT → a user's DOCKER-USER ACCEPT, with its
/// file:line) and exits 1; without it that diff is empty (exit 0).
fn why_changes_lists_a_moved_decision() {
    let rules = ex("docker-user-accept-web.rules");
    let plain = netrig(&["diff", &ex("docker-web.toml"), "--after", &rules]);
    assert_eq!(
        plain.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&plain.stdout)
    );
    let o = netrig(&[
        "diff",
        &ex("docker-web.toml"),
        "--after",
        &rules,
        "--why-changes",
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("1 cell(s) with the same outcome, decided by another rule")
            && text.contains("internet -> 203.0.113.2:8080/tcp")
            && text.contains("ip filter DOCKER: -A DOCKER -d 172.17.0.2/32")
            && text.contains("docker-user-accept-web.rules:7"),
        "{text}"
    );
    let o = netrig(&[
        "diff",
        &ex("docker-web.toml"),
        "--after",
        &rules,
        "--why-changes",
        "--format",
        "json",
    ]);
    let json = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(json.contains("\"change\": \"why\""), "{json}");
}

/// `diff --before ufw:FILE --after ufw:FILE` on the real-ufw host: the
/// published port's cell is dropped by ufw-user-forward's rule, named by
/// the ufw command that made it.
fn diff_with_ufw_command_files() {
    let o = netrig(&[
        "diff",
        &topology("docker-ufw-real.toml"),
        "--before",
        &format!("ufw:{}", topology("ufw/none.txt")),
        "--after",
        &format!("host=ufw:{}", topology("ufw/route-deny-80.txt")),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let cell = out
        .split("\n\n")
        .find(|c| c.contains("internet -> 203.0.113.2:8080/tcp"))
        .unwrap_or_else(|| panic!("8080 unchanged:\n{out}"));
    assert!(cell.contains("after   dropped"), "{cell}");
    assert!(
        cell.contains(
            "ip filter ufw-user-forward: -A ufw-user-forward -p tcp -m tcp --dport 80 -j DROP (drop) \
             from ufw route deny proto tcp from any to any port 80"
        ),
        "{cell}"
    );
}

/// `diff --before firewalld:FILE --after firewalld:FILE` on the
/// real-firewalld host: opening 8081 in the public zone changes the host's
/// 8081 cell from rejected to delivered, each why naming firewalld's public
/// zone chain that decided; a file of ufw commands for that host is refused naming its line.
fn diff_with_firewalld_command_files() {
    let topo = topology("docker-firewalld-real.toml");
    let o = netrig(&[
        "diff",
        &topo,
        "--before",
        &format!("firewalld:{}", topology("firewalld/none.txt")),
        "--after",
        &format!("host=firewalld:{}", topology("firewalld/open-8081.txt")),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let cell = out
        .split("\n\n")
        .find(|c| c.contains("internet -> 203.0.113.2:8081/tcp"))
        .unwrap_or_else(|| panic!("8081 unchanged:\n{out}"));
    assert!(
        cell.contains("before  unreachable")
            && cell.contains(
                "inet firewalld filter_IN_public: reject with icmpx admin-prohibited (drop)"
            ),
        "{cell}"
    );
    assert!(
        cell.contains("after   delivered")
            && cell
                .contains("inet firewalld filter_IN_public_allow: tcp dport 8081 accept (accept)"),
        "{cell}"
    );
    let wrong = netrig(&[
        "diff",
        &topo,
        "--after",
        &format!("firewalld:{}", topology("ufw/route-deny-80.txt")),
    ]);
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(2), "{err}");
    assert!(
        err.contains("route-deny-80.txt")
            && err.contains("line 2")
            && err.contains("runs firewalld"),
        "{err}"
    );
}

/// Skips (fails under CI=true) where a firewall manager is not installed.
fn managers_installed() -> Option<netrig::testing::Skip> {
    let ok = [
        "/usr/sbin/ufw",
        "/usr/sbin/firewalld",
        "/usr/bin/firewall-cmd",
        "/usr/bin/dbus-daemon",
    ]
    .iter()
    .all(|p| std::path::Path::new(p).is_file());
    (!ok).then(|| {
        netrig::testing::Skip::unless_required(
            "ufw or firewalld is not installed (packages ufw, firewalld, dbus-daemon; \
             ci/setup.sh installs them)",
        )
    })
}

/// IPv6 on the command line: `trace --to '[ADDR]:PORT/tcp'` names the
/// deciding ip6tables rule with file:line, `matrix --format json` has IPv6
/// and ICMPv6 cells, `diff --after NODE=FILE.v6` shows the cell an
/// ip6tables change opens.
fn ipv6_trace_matrix_and_diff() {
    let lab = topology("ipv6-router.toml");
    let t = netrig(&[
        "trace",
        &lab,
        "--from",
        "client",
        "--to",
        "[2001:db8:61:2::2]:81/tcp",
    ]);
    let out = String::from_utf8_lossy(&t.stdout);
    assert_eq!(
        t.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&t.stderr)
    );
    assert!(
        out.contains("decision: ip6 filter FORWARD rule")
            && out.contains("--dport 81 -j REJECT")
            && out.contains("rules/ipv6-router.v6:8"),
        "{out}"
    );
    let m = netrig(&["matrix", &lab, "--format", "json"]);
    let out = String::from_utf8_lossy(&m.stdout);
    assert_eq!(m.status.code(), Some(0), "{out}");
    assert!(
        out.contains(r#""to": "2001:db8:61:2::2/icmp6", "outcome": "delivered""#)
            && out.contains(r#""to": "[2001:db8:61:2::2]:53/udp", "outcome": "dropped""#),
        "{out}"
    );
    let open = topology("rules/ipv6-router-open.v6");
    let d = netrig(&["diff", &lab, "--after", &format!("router={open}")]);
    let out = String::from_utf8_lossy(&d.stdout);
    assert_eq!(
        d.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&d.stderr)
    );
    assert!(
        out.contains("1 cell(s) changed")
            && out.contains("client -> [2001:db8:61:2::2]:53/udp")
            && out.contains("ipv6-router-open.v6:5"),
        "{out}"
    );
}

/// The seen source and destination the real Docker 28.5.2 showed for
/// `check` (a line of its recorded behaviour): the addresses of the first
/// packet its tcpdump saw leave `iface`.
fn recorded_seen(check: &str, iface: &str) -> (String, String) {
    let file = format!(
        "{}/../tests/data/real-docker-ipv6/dumps/default.test.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let after = text
        .split(check)
        .nth(1)
        .unwrap_or_else(|| panic!("{file}: no {check}"));
    let out = format!("{iface} Out IP6 ");
    let line = after
        .lines()
        .find_map(|l| l.split_once(&out).map(|(_, rest)| rest.to_string()))
        .unwrap_or_else(|| panic!("{file}: no packet out of {iface} for {check}"));
    // "SRC.PORT > DST.PORT: Flags …"
    let mut words = line.split_whitespace();
    let addr = |w: Option<&str>| {
        let w = w.unwrap().trim_end_matches(':');
        w[..w.rfind('.').unwrap()].to_string()
    };
    let src = addr(words.next());
    words.next();
    (src, addr(words.next()))
}

/// A dual-stack Docker host: the matrix has IPv6 cells by default — the
/// published port on the host's IPv6 address delivered from the internet
/// with the addresses the real 28.5.2 daemon's server saw, ICMPv6 echo —
/// and trace names the deciding ip6tables rule.
fn docker_ipv6_matrix_and_trace() {
    let topo = topology("docker-ipv6.toml");
    let m = netrig(&["matrix", &topo, "--format", "json"]);
    let out = String::from_utf8_lossy(&m.stdout);
    assert_eq!(
        m.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&m.stderr)
    );
    let (src, dst) = recorded_seen("internet -> [2001:db8:113::2]:8080 (web", "docker0");
    let published = format!(
        r#"{{"from": "internet", "to": "[2001:db8:113::2]:8080/tcp", "outcome": "delivered", "seen_src": "{src}", "seen_dst": "{dst}""#
    );
    assert!(out.contains(&published), "{published}\nnot in\n{out}");
    assert!(
        out.contains(r#"{"from": "c6", "to": "2001:db8:100::10/icmp6", "outcome": "delivered""#),
        "{out}"
    );
    let t = netrig(&[
        "trace",
        &topo,
        "--from",
        "internet",
        "--to",
        "[2001:db8:113::2]:8080/tcp",
    ]);
    let out = String::from_utf8_lossy(&t.stdout);
    assert_eq!(t.status.code(), Some(0), "{out}");
    // The published port's server listens on the container's IPv6 address:
    // the traced probe is answered.
    assert!(
        out.contains("decision: ip6 filter DOCKER rule")
            && out.lines().next().is_some_and(|l| l.ends_with("probe: Answered"))
            && out.contains("-A DOCKER -d fd00:17::2/128 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"),
        "{out}"
    );
}

/// This module's tests (lab tests: without privileges they are skipped, as before).
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        diff_exit_status_says_whether_a_cell_changed,
        diff_error_exits_2,
        generic_labs_in_matrix_diff_and_trace,
        matrix_json_and_trace,
        closed_pipe_ends_quietly,
        grids_for_matrix_and_diff,
        why_changes_lists_a_moved_decision,
        ipv6_trace_matrix_and_diff,
        docker_ipv6_matrix_and_trace,
    ]
    .into_iter()
    .chain(
        netrig::testing::tests![
            diff_with_ufw_command_files,
            diff_with_firewalld_command_files
        ]
        .into_iter()
        .map(|t| t.needs(managers_installed)),
    )
    .collect()
}
