//! The command line of a test binary: every option libtest (Rust's own test
//! harness) accepts, parsed without aborting.
//!
//! libtest-mimic takes at most one filter and rejects several libtest options;
//! `cargo test -- nat proxy` would abort the binary (and cargo then skips the
//! doc tests). This parser takes any number of filters and every libtest
//! option; options that mean nothing to this harness (`--report-time`,
//! `--shuffle`, …) are accepted and named in [`Args::without_effect`], so the
//! harness can say so instead of failing.

use std::fmt;

/// How results are printed (`--format`, `-q`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Format {
    /// One line per test (the default).
    #[default]
    Pretty,
    /// One character per test (`--format terse`, `-q`).
    Terse,
    /// JSON events, one per line (`--format json`).
    Json,
}

/// Whether to colour the output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Color {
    /// Colour when stdout is a terminal (the default).
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// A test binary's arguments, as libtest defines them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Args {
    /// Positional filters: a test runs if its name contains any of them
    /// (equals one, with `--exact`). Empty: every test.
    pub filters: Vec<String>,
    /// `--skip PATTERN` (repeatable): tests whose name contains (with
    /// `--exact`: equals) any of them are filtered out.
    pub skip: Vec<String>,
    /// `--exact`: filters and skips match whole names.
    pub exact: bool,
    /// `--list`: list the tests instead of running them.
    pub list: bool,
    /// `--ignored`: only ignored tests (run, or listed).
    pub ignored: bool,
    /// `--include-ignored`: ignored tests run too.
    pub include_ignored: bool,
    /// `--format` / `-q`.
    pub format: Format,
    /// `--color`.
    pub color: Color,
    /// `--test-threads N`; `None`: one per CPU.
    pub test_threads: Option<usize>,
    /// `--logfile PATH`: results go to this file instead of stdout.
    pub logfile: Option<String>,
    /// `--nocapture` / `--no-capture`: output is never captured by this harness
    /// anyway (each test's output appears as it is written).
    pub nocapture: bool,
    /// `--bench`: run benchmarks only (netrig tests are not benchmarks: all
    /// are then ignored, as with libtest-mimic).
    pub bench: bool,
    /// Options accepted for compatibility that change nothing here, as given
    /// (`--report-time`, `--shuffle`, `--show-output`, `-Z unstable-options`, …).
    pub without_effect: Vec<String>,
}

/// A command line libtest would reject too (unknown option, missing or bad value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgsError(pub String);

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgsError {}

/// Options that take a value (`--opt VALUE` or `--opt=VALUE`).
const WITH_VALUE: &[&str] = &[
    "--skip",
    "--format",
    "--color",
    "--test-threads",
    "--logfile",
    "--shuffle-seed",
    "-Z",
];

/// Flags accepted and without effect in this harness.
const NO_EFFECT_FLAGS: &[&str] = &[
    "--show-output",
    "--report-time",
    "--ensure-time",
    "--shuffle",
    "--force-run-in-process",
    "--exclude-should-panic",
    "--test",
];

/// The usage text for `--help`.
pub(crate) const USAGE: &str = "\
Usage: TEST-BINARY [OPTIONS] [FILTERS...]

A netrig test binary (netrig::testing, compatible with libtest and cargo nextest).
A test runs if its name contains any FILTER (equals one, with --exact).

Options:
    --include-ignored   run ignored and not ignored tests
    --ignored           run (or --list) only ignored tests
    --list              list all tests (with --ignored: the ignored ones)
    --exact             filters and --skip match whole test names
    --skip FILTER       skip tests whose names contain FILTER (repeatable)
    --test-threads N    number of threads running tests in parallel
    --format pretty|terse|json
    -q, --quiet         the same as --format terse
    --color auto|always|never
    --logfile PATH      write results to PATH instead of stdout
    --nocapture, --show-output, --report-time, --ensure-time, --shuffle,
    --shuffle-seed N, --test, --bench, -Z unstable-options
                        accepted for compatibility
    -h, --help          this text

Tests that need privileges (CAP_NET_ADMIN, CAP_SYS_ADMIN) or a missing feature
are listed as ignored, with the reason, unless CI=true or
NETRIG_REQUIRE_PRIVILEGES=1: then they fail, saying why.
";

/// What parsing produced: arguments to run with, or a request for help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Run (or list) with these arguments.
    Run(Args),
    /// `-h` / `--help` was given.
    Help,
}

impl Args {
    /// Parses this process's arguments (the first, the program, is skipped).
    pub(crate) fn from_env() -> Result<Parsed, ArgsError> {
        Args::parse(std::env::args().skip(1))
    }

    /// Parses `args` (without the program name), as libtest does.
    pub(crate) fn parse<I, S>(args: I) -> Result<Parsed, ArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = Args::default();
        let mut format: Option<Format> = None;
        let mut quiet = false;
        let mut it = args.into_iter().map(Into::into);
        while let Some(arg) = it.next() {
            if arg == "--" {
                out.filters.extend(it.by_ref());
                break;
            }
            if !arg.starts_with('-') || arg == "-" {
                out.filters.push(arg);
                continue;
            }
            let (name, inline) = split_option(&arg);
            if WITH_VALUE.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| ArgsError(format!("Argument to option '{name}' missing")))?,
                };
                out.apply_value(&name, value, &mut format)?;
                continue;
            }
            if let Some(v) = inline {
                return Err(ArgsError(format!(
                    "Option '{name}' does not take a value ({v})"
                )));
            }
            match name.as_str() {
                "-h" | "--help" => return Ok(Parsed::Help),
                "--include-ignored" => out.include_ignored = true,
                "--ignored" => out.ignored = true,
                "--list" => out.list = true,
                "--exact" => out.exact = true,
                "--nocapture" | "--no-capture" => out.nocapture = true,
                "--bench" => out.bench = true,
                "-q" | "--quiet" => quiet = true,
                n if NO_EFFECT_FLAGS.contains(&n) => out.without_effect.push(arg.clone()),
                _ => {
                    return Err(ArgsError(format!(
                        "Unrecognized option: '{}'",
                        name.trim_start_matches('-')
                    )));
                }
            }
        }
        out.format = match (format, quiet) {
            (Some(f), _) => f,
            (None, true) => Format::Terse,
            (None, false) => Format::Pretty,
        };
        Ok(Parsed::Run(out))
    }

    fn apply_value(
        &mut self,
        name: &str,
        value: String,
        format: &mut Option<Format>,
    ) -> Result<(), ArgsError> {
        match name {
            "--skip" => self.skip.push(value),
            "--format" => {
                *format = Some(match value.as_str() {
                    "pretty" => Format::Pretty,
                    "terse" => Format::Terse,
                    "json" => Format::Json,
                    "junit" => {
                        self.without_effect
                            .push("--format junit (pretty is printed)".into());
                        Format::Pretty
                    }
                    v => return Err(bad_value(name, v, "pretty, terse, json or junit")),
                })
            }
            "--color" => {
                self.color = match value.as_str() {
                    "auto" => Color::Auto,
                    "always" => Color::Always,
                    "never" => Color::Never,
                    v => return Err(bad_value(name, v, "auto, always or never")),
                }
            }
            "--test-threads" => match value.parse::<usize>() {
                Ok(n) if n > 0 => self.test_threads = Some(n),
                _ => return Err(bad_value(name, &value, "a number greater than 0")),
            },
            "--logfile" => self.logfile = Some(value),
            "--shuffle-seed" => self.without_effect.push(format!("--shuffle-seed {value}")),
            "-Z" => self.without_effect.push(format!("-Z {value}")),
            _ => unreachable!("{name} is in WITH_VALUE"),
        }
        Ok(())
    }

    /// Whether `name` passes the filters and `--skip` (not `--ignored`).
    pub(crate) fn selects(&self, name: &str) -> bool {
        let hit = |pattern: &String| {
            if self.exact {
                name == pattern
            } else {
                name.contains(pattern.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(hit)) && !self.skip.iter().any(hit)
    }
}

/// `--opt=value` → (`--opt`, Some(value)); `-Zvalue` → (`-Z`, Some(value)).
fn split_option(arg: &str) -> (String, Option<String>) {
    if let Some(rest) = arg.strip_prefix("--") {
        return match rest.split_once('=') {
            Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
            None => (arg.to_string(), None),
        };
    }
    match arg.strip_prefix("-Z") {
        Some(v) if !v.is_empty() => ("-Z".into(), Some(v.to_string())),
        _ => (arg.to_string(), None),
    }
}

fn bad_value(name: &str, value: &str, expected: &str) -> ArgsError {
    ArgsError(format!(
        "argument for {name} must be {expected} (was {value})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Args {
        match Args::parse(args.iter().copied()) {
            Ok(Parsed::Run(a)) => a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    /// Filters, `--skip=` and `-q` together (formerly `Args::parse`'s doc example).
    #[test]
    fn parse_example() {
        let Parsed::Run(a) = Args::parse(["nat", "proxy", "--skip=slow", "-q"]).unwrap() else {
            unreachable!()
        };
        assert_eq!(a.filters, ["nat", "proxy"]);
        assert_eq!(a.skip, ["slow"]);
    }

    /// Several filters, repeated skips and `=` forms are all kept.
    #[test]
    fn filters_and_skips() {
        let a = run(&["nat", "--skip", "slow", "proxy", "--skip=legacy", "--exact"]);
        assert_eq!(a.filters, ["nat", "proxy"]);
        assert_eq!(a.skip, ["slow", "legacy"]);
        assert!(a.exact);
        assert!(a.selects("nat") && !a.selects("nat::x") && !a.selects("slow"));
    }

    /// Substring matching selects any filter and drops any skip.
    #[test]
    fn selection_by_substring() {
        let a = run(&["nat", "proxy", "--skip", "legacy"]);
        assert!(a.selects("outbound_nat::v29"));
        assert!(a.selects("userland_proxy"));
        assert!(!a.selects("outbound_nat::iptables-legacy"));
        assert!(!a.selects("isolation"));
        assert!(run(&[]).selects("anything"));
    }

    /// Every libtest option parses; the ones without effect are named.
    #[test]
    fn every_libtest_option_is_accepted() {
        let a = run(&[
            "--list",
            "--ignored",
            "--include-ignored",
            "--format",
            "json",
            "-q",
            "--test-threads=3",
            "--nocapture",
            "--show-output",
            "--color",
            "never",
            "-Z",
            "unstable-options",
            "--report-time",
            "--ensure-time",
            "--shuffle",
            "--shuffle-seed",
            "7",
            "--logfile",
            "/tmp/x",
            "--test",
            "-Zunstable-options",
        ]);
        assert!(a.list && a.ignored && a.include_ignored && a.nocapture);
        assert_eq!(a.format, Format::Json, "--format wins over -q");
        assert_eq!(a.color, Color::Never);
        assert_eq!(a.test_threads, Some(3));
        assert_eq!(a.logfile.as_deref(), Some("/tmp/x"));
        assert_eq!(a.without_effect.len(), 8, "{:?}", a.without_effect);
        assert_eq!(run(&["-q"]).format, Format::Terse);
    }

    /// What libtest rejects is rejected with its words; `--help` is a request, not an error.
    #[test]
    fn bad_command_lines() {
        let err = |args: &[&str]| Args::parse(args.iter().copied()).unwrap_err().0;
        assert_eq!(err(&["--bogus"]), "Unrecognized option: 'bogus'");
        assert!(err(&["--format", "xml"]).contains("pretty, terse, json"));
        assert!(err(&["--test-threads", "0"]).contains("greater than 0"));
        assert!(err(&["--skip"]).contains("missing"));
        assert_eq!(Args::parse(["--help"]), Ok(Parsed::Help));
        assert_eq!(run(&["--", "--list"]).filters, ["--list"]);
    }
}
