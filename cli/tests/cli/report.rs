//! The HTML report in a real browser: `netrig matrix … --format html`
//! opened in headless Chromium (Debian's `chromium`), driven over the
//! DevTools protocol on a pipe (`--remote-debugging-pipe`: no port, no
//! network): no console errors, one grid cell per matrix row, a click on a
//! cell shows its why, and a screenshot kept at
//! `$CARGO_TARGET_TMPDIR/netrig-report/two-docker-hosts.png` (with the page).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long one DevTools call or page event may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// Where the test leaves its page and screenshot: the target's tmp folder,
/// or (when this user cannot write there: the rootless run as `nobody`) a
/// folder of its own under the system's temporary directory.
fn artifacts() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("netrig-report");
    if std::fs::create_dir_all(&target).is_ok() && tempfile::tempfile_in(&target).is_ok() {
        return target;
    }
    let own = std::env::temp_dir().join(format!("netrig-report-{}", nix::unistd::getuid()));
    std::fs::create_dir_all(&own).expect("a folder for the report");
    own
}

/// The chromium program on PATH, if any.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

/// A headless Chromium spoken to over `--remote-debugging-pipe` (it reads
/// commands on fd 3, writes answers and events on fd 4, each JSON message
/// ended by a NUL). Killed on drop.
struct Browser {
    child: Child,
    to: std::io::PipeWriter,
    from: Receiver<Value>,
    next_id: u64,
    /// Every event seen, in order.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(program: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let (cmd_r, cmd_w) = std::io::pipe().expect("pipe");
        let (out_r, out_w) = std::io::pipe().expect("pipe");
        let (r, w) = (cmd_r.as_raw_fd(), out_w.as_raw_fd());
        // In the child: both ends to 100 and 101 first (out of the way of
        // 3 and 4, which either may be), then to 3 and 4.
        assert!(r < 100 && w < 100, "pipe fds {r}, {w}");
        let mut c = Command::new(program);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-pipe",
            "--window-size=1600,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: dup2 is async-signal-safe; fds 3, 4, 100 and 101 are the
        // child's own to replace, never closed by the ManuallyDrop wrappers.
        unsafe {
            c.pre_exec(move || {
                for (from, to) in [(r, 100), (w, 101), (100, 3), (101, 4)] {
                    let mut target = std::mem::ManuallyDrop::new(OwnedFd::from_raw_fd(to));
                    nix::unistd::dup2(BorrowedFd::borrow_raw(from), &mut target)?;
                }
                Ok(())
            });
        }
        let child = c.spawn().expect("start chromium");
        drop((cmd_r, out_w));
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(out_r);
            let mut buf = Vec::new();
            while matches!(reader.read_until(0, &mut buf), Ok(n) if n > 0) {
                buf.pop_if(|b| *b == 0);
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    return;
                }
                buf.clear();
            }
        });
        Browser {
            child,
            to: cmd_w,
            from: rx,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// The next message, or a failure naming what was awaited.
    fn recv(&mut self, until: Instant, what: &str) -> Value {
        let left = until.saturating_duration_since(Instant::now());
        match self.from.recv_timeout(left) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!("chromium: no {what} within {DEADLINE:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("chromium exited while awaiting {what}"),
        }
    }

    /// Calls `method` (in `session`, if any) and returns its result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        let until = Instant::now() + DEADLINE;
        loop {
            let v = self.recv(until, method);
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// Waits for the event `method`.
    fn wait_event(&mut self, method: &str) {
        if self.events.iter().any(|e| e["method"] == json!(method)) {
            return;
        }
        let until = Instant::now() + DEADLINE;
        loop {
            let v = self.recv(until, method);
            let hit = v["method"] == json!(method);
            self.events.push(v);
            if hit {
                return;
            }
        }
    }

    /// Evaluates `expr` in the page, returning its value.
    fn eval(&mut self, session: &str, expr: &str) -> Value {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// The console errors, uncaught exceptions and error log entries seen.
    fn errors(&self) -> Vec<String> {
        (self.events.iter())
            .filter(|e| {
                let m = e["method"].as_str().unwrap_or("");
                m == "Runtime.exceptionThrown"
                    || (m == "Runtime.consoleAPICalled"
                        && ["error", "assert"]
                            .contains(&e["params"]["type"].as_str().unwrap_or("")))
                    || (m == "Log.entryAdded" && e["params"]["entry"]["level"] == json!("error"))
            })
            .map(|e| e.to_string())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (what `Page.captureScreenshot` returns) to bytes.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, &d)| n | (d as u32) << (18 - 6 * k));
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn netrig(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netrig"))
        .args(args)
        .output()
        .expect("run netrig")
}

/// `netrig matrix two-docker-hosts.toml --format html` opens in Chromium
/// with no console error, shows one grid cell per matrix row, and a click
/// on a cell shows its why and highlights its source in the topology.
fn html_report_in_a_browser() {
    let chromium = chromium().expect("checked by needs");
    let topo = format!(
        "{}/../topologies/two-docker-hosts.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let dir = artifacts();
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    let page = dir.join("two-docker-hosts.html");
    let o = netrig(&[
        "matrix",
        &topo,
        "--format",
        "html",
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(!html.contains("http://") && !html.contains("https://"));
    // The rows, from the same topology's JSON matrix.
    let o = netrig(&["matrix", &topo, "--format", "json"]);
    let rows: Value = serde_json::from_slice(&o.stdout).expect("a JSON matrix");
    let rows = rows.as_array().expect("an array").len();
    assert!(rows > 10, "{rows} rows");

    let mut b = Browser::start(&chromium);
    let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    let s = attached["sessionId"]
        .as_str()
        .expect("a session")
        .to_string();
    let s = s.as_str();
    for m in ["Runtime.enable", "Log.enable", "Page.enable"] {
        b.call(Some(s), m, json!({}));
    }
    b.call(
        Some(s),
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
    );
    let url = format!("file://{}", page.display());
    b.call(Some(s), "Page.navigate", json!({"url": url}));
    b.wait_event("Page.loadEventFired");
    assert_eq!(
        b.eval(s, "document.body.dataset.ready"),
        json!("1"),
        "the script ran"
    );
    assert_eq!(
        b.eval(s, "document.querySelectorAll('#grid td.cell').length"),
        json!(rows)
    );
    assert_eq!(
        b.eval(
            s,
            "document.querySelectorAll('#topology [data-node]').length"
        ),
        json!(5),
        "router, h1, h2, h1-web and h2-web"
    );
    // Click the router's cell to h2's published port (DNATed to h2-web).
    let cell = "router -> 198.51.100.22:8080/tcp";
    let rect = b.eval(
        s,
        &format!(
            "(function(){{var td=[].find.call(document.querySelectorAll('#grid td.cell'),\
             function(t){{return t.title.indexOf('{cell}:')===0;}});\
             var r=td.getBoundingClientRect();return {{x:r.x+r.width/2,y:r.y+r.height/2}};}})()"
        ),
    );
    let (x, y) = (rect["x"].clone(), rect["y"].clone());
    for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
        b.call(
            Some(s),
            "Input.dispatchMouseEvent",
            json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
        );
    }
    let detail = b.eval(s, "document.getElementById('detail').innerText");
    let detail = detail.as_str().unwrap_or_default();
    assert!(
        detail.contains(cell) && detail.contains("why") && detail.contains("DNAT"),
        "{detail}"
    );
    assert_eq!(
        b.eval(s, "document.querySelectorAll('#grid td.cell.sel').length"),
        json!(1),
        "the click pinned the cell"
    );
    assert_eq!(
        b.eval(
            s,
            "document.querySelector('#topology .hl-src').getAttribute('data-node')"
        ),
        json!("router")
    );
    let shot = b.call(Some(s), "Page.captureScreenshot", json!({"format": "png"}));
    let png = base64(shot["data"].as_str().expect("png data"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let file = dir.join("two-docker-hosts.png");
    std::fs::write(&file, &png).expect("write the screenshot");
    eprintln!("screenshot: {}", file.display());
    let errors = b.errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

/// This module's tests: a lab test (the matrix needs privileges) that also
/// needs chromium, skipped without it — a failure under CI=true.
pub fn tests() -> Vec<netrig::testing::Test> {
    use netrig::testing::{Skip, Test};
    vec![
        Test::lab("html_report_in_a_browser", html_report_in_a_browser).needs(|| {
            chromium()
                .is_none()
                .then(|| Skip::unless_required("chromium is not installed (package chromium)"))
        }),
    ]
}
